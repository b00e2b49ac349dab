// Phase 5: download sizes (raw, gzip, brotli 11) and how much of a model file is weights.
import type { ModelProto } from '../src/onnx/onnx-types.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { elementBytes, elementCount, rawBytes, tensorDims } from '../src/onnx/tensor-data.js'
import { forEachTensor } from '../src/onnx/tensors.js'
import { planWeights } from '../src/quant/weight-quant.js'
import { downloadSizes, type MeasuredSizes as DownloadSizes } from '../src/report/sizes.js'

/** The report's figures at the benchmark's settings: gzip and brotli 11, what CDNs precompress with. */
export async function downloadSizesAsync(bytes: Uint8Array): Promise<DownloadSizes> {
  return downloadSizes([bytes], 11)
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE])

/** Bytes of floating-point tensor data (initializers, Constant nodes, subgraphs) in the model. */
export function floatWeightBytes(model: ModelProto): number {
  let total = 0
  forEachTensor(model, (t) => {
    const type = t.data_type ?? 0
    if (!FLOAT_TYPES.has(type)) return
    const raw = rawBytes(t)
    total += raw ? raw.byteLength : elementCount(tensorDims(t)) * (elementBytes(type) ?? 4)
  })
  return total
}

/** A model is weight-dominated when float weights are at least this share of the file. */
export const WEIGHT_DOMINATED = 0.9

/**
 * The smallest file any 8-bit encoding of the weights the cfg's defaults quantize can write: each
 * of those weights at exactly one byte an element, with no scales, zero points or decode nodes,
 * and everything else (the graph, biases, weights under min_quant_weight_channel or of rank < 2)
 * as it is. Where this is over 0.30x of the file, no 8-bit file of the model meets that goal.
 */
export function int8FloorBytes(model: ModelProto, fileBytes: number): number {
  const plan = planWeights(model, undefined, { bits: 8, minQuantWeightSize: 0, minQuantWeightChannel: 16, skipQuantNode: [] })
  let saved = 0
  for (const w of plan.planned) {
    const type = w.site.definition.tensor.data_type ?? DataType.FLOAT
    saved += w.elements * ((elementBytes(type) ?? 4) - 1)
  }
  return fileBytes - saved
}

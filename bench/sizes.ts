// Phase 5: download sizes (raw, gzip, brotli 11) and how much of a model file is weights.
import type { ModelProto } from '../src/onnx/onnx-types.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { elementBytes, elementCount, rawBytes, tensorDims } from '../src/onnx/tensor-data.js'
import { forEachTensor } from '../src/onnx/tensors.js'
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

// Phase 5: download sizes (raw, gzip 9, brotli 11) and how much of a model file is weights.
import { promisify } from 'node:util'
import { brotliCompress, constants, gzip } from 'node:zlib'
import type { ModelProto } from '../src/onnx/onnx-types.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { elementBytes, elementCount, rawBytes, tensorDims } from '../src/onnx/tensor-data.js'
import { forEachTensor } from '../src/onnx/tensors.js'
import type { MeasuredSizes as DownloadSizes } from '../src/report/sizes.js'

const brotliAsync = promisify(brotliCompress)
const gzipAsync = promisify(gzip)

/**
 * The same figures as src/report/sizes.ts `downloadSizes(parts, 11)`, computed on the libuv
 * thread pool so several files compress at once (brotli 11 takes ~45 s on a 10 MB model here).
 */
export async function downloadSizesAsync(bytes: Uint8Array): Promise<DownloadSizes> {
  const [gz, br] = await Promise.all([
    gzipAsync(bytes, { level: 9 }),
    brotliAsync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength } }),
  ])
  return { raw: bytes.byteLength, gzip: gz.byteLength, brotli: br.byteLength }
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

// Where a weight-quantized model's compressed bytes go: integer codes, per-channel scales, zero
// points, tensors left float (biases, BatchNorm, weights below the size thresholds), and the graph.
import { promisify } from 'node:util'
import { brotliCompress, constants } from 'node:zlib'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import type { TensorProto } from '../src/onnx/onnx-types.js'
import { forEachTensor } from '../src/onnx/tensors.js'

const brotli = promisify(brotliCompress)

export const BREAKDOWN_PARTS = ['codes', 'scales', 'zero points', 'left float', 'graph'] as const
export type BreakdownPart = (typeof BREAKDOWN_PARTS)[number]

/** Bytes held by a tensor's data fields. */
function dataBytes(t: TensorProto): Uint8Array[] {
  const out: Uint8Array[] = []
  if (t.raw_data?.byteLength) out.push(t.raw_data)
  if (t.float_data?.length) out.push(new Uint8Array(Float32Array.from(t.float_data).buffer))
  if (t.int32_data?.length) out.push(new Uint8Array(Int32Array.from(t.int32_data).buffer))
  return out
}

/**
 * Brotli bytes (the report's quality 5) of each part, each part's tensors concatenated, given the
 * quantized weights' names; the parts add up to within a few percent of the whole file's brotli size.
 */
export async function byteBreakdown(model: Uint8Array, weights: readonly string[]): Promise<Record<BreakdownPart, number>> {
  const proto = decodeModelProto(model)
  const partOf = new Map<string, BreakdownPart>()
  for (const w of weights) {
    for (const s of ['_quantized', '_quantized_high']) partOf.set(w + s, 'codes')
    for (const s of ['_scale', '_scale16', '_scale_power']) partOf.set(w + s, 'scales')
    partOf.set(`${w}_zero_point`, 'zero points')
  }
  const parts = new Map<BreakdownPart, Uint8Array[]>(BREAKDOWN_PARTS.map((p) => [p, []]))
  forEachTensor(proto, (t) => {
    parts.get(partOf.get(t.name ?? '') ?? 'left float')!.push(...dataBytes(t))
    t.raw_data = new Uint8Array(0)
    t.float_data = []
    t.int32_data = []
    t.int64_data = []
  })
  parts.get('graph')!.push(encodeModelProto(proto))
  const out = {} as Record<BreakdownPart, number>
  for (const [p, chunks] of parts) {
    const joined = Buffer.concat(chunks)
    out[p] = joined.byteLength ? (await brotli(joined, { params: { [constants.BROTLI_PARAM_QUALITY]: 5 } })).byteLength : 0
  }
  return out
}

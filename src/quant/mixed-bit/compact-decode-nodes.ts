import { AttributeType, DataType, type NodeProto, type TensorProto } from '../../onnx/onnx-types.js'
import { makeTensor } from '../../onnx/tensor-data.js'
import { type NameAllocator } from '../../onnx/graph-walk.js'
import { putDecodeInPlace } from '../dequant-nodes.js'
import type { WeightSite } from '../weight-sites.js'
import type { CompactParams } from './compact-params.js'

/** The largest |code| two int8 planes hold: low + 256 * high with both in [-128, 127]. */
export const SPLIT_MAX_CODE = 127 * 256 + 127

/**
 * Codes as two int8 planes, low = the code wrapped into [-128, 127] and high = (code - low) / 256,
 * so code = low + 256 * high exactly. Codes within ±127 have high = 0, so the high plane is
 * almost all zeros and brotli stores it in a few bytes per outlier; as little-endian int16 the
 * sign fills every high byte with 0x00 or 0xff, costing about a bit per weight (PP-OCRv4 rec's
 * int16 weights: 7.2 bits a weight under brotli against 5.7 bits of entropy).
 */
export function splitCodes(codes: Int8Array | Int16Array): { low: Int8Array; high: Int8Array | null } {
  if (codes instanceof Int8Array) return { low: codes, high: null }
  const low = new Int8Array(codes.length)
  const high = new Int8Array(codes.length)
  let any = false
  for (let i = 0; i < codes.length; i++) {
    const q = codes[i]!
    const l = ((q + 128) & 255) - 128
    low[i] = l
    const h = (q - l) / 256
    if (h < -128 || h > 127) throw new RangeError(`code ${q} does not fit two int8 planes`)
    high[i] = h
    if (h) any = true
  }
  return { low, high: any ? high : null }
}

const cast = (name: string, input: string, output: string, to: DataType): NodeProto => ({
  name, op_type: 'Cast', input: [input], output: [output], attribute: [{ name: 'to', type: AttributeType.INT, i: to }],
})

/**
 * Replace a float weight by its mixed-bit codes and the decode
 * (Cast(low) [+ 256 * Cast(high)] [- Cast(zero_point16)]) * (Cast(scale16) [* power]),
 * whose output keeps the weight's name. Every input is a constant, so onnxruntime folds the
 * chain into one float initializer at load and inference runs the float kernels; the values are
 * exactly decodeWeights(codes, compact.params).
 */
export function replaceWithCompactDecode(site: WeightSite, codes: Int8Array | Int16Array, axis: number, compact: CompactParams, names: NameAllocator): void {
  const def = site.definition
  const base = site.name
  const rank = site.dims.length
  const channels = compact.scale16.length
  const paramShape = [channels, ...new Array<number>(rank - 1 - axis).fill(1)]
  const tensors: TensorProto[] = []
  const nodes: NodeProto[] = []
  const constant = (suffix: string, type: DataType, dims: number[], data: ArrayBufferView) => {
    const name = names.take(`${base}_${suffix}`)
    tensors.push(makeTensor(name, type, dims, data))
    return name
  }
  const out = (suffix: string) => names.take(`${base}_${suffix}`)
  const { low, high } = splitCodes(codes)

  let q = out('codes_float')
  nodes.push(cast(names.take(`${base}_Cast`), constant('quantized', DataType.INT8, site.dims, low), q, DataType.FLOAT))
  if (high) {
    const h = out('high_float')
    nodes.push(cast(names.take(`${base}_CastHigh`), constant('quantized_high', DataType.INT8, site.dims, high), h, DataType.FLOAT))
    const hs = out('high_scaled')
    nodes.push({ name: names.take(`${base}_MulHigh`), op_type: 'Mul', input: [h, constant('high_unit', DataType.FLOAT, [], Float32Array.of(256))], output: [hs] })
    const sum = out('codes_joined')
    nodes.push({ name: names.take(`${base}_AddHigh`), op_type: 'Add', input: [q, hs], output: [sum] })
    q = sum
  }
  if (compact.zeroPoint16) {
    const z = out('zero_point_float')
    nodes.push(cast(names.take(`${base}_CastZeroPoint`), constant('zero_point', DataType.FLOAT16, paramShape, compact.zeroPoint16), z, DataType.FLOAT))
    const shifted = out('shifted')
    nodes.push({ name: names.take(`${base}_SubZeroPoint`), op_type: 'Sub', input: [q, z], output: [shifted] })
    q = shifted
  }
  let s = out('scale_float')
  nodes.push(cast(names.take(`${base}_CastScale`), constant('scale', DataType.FLOAT16, paramShape, compact.scale16), s, DataType.FLOAT))
  if (compact.power !== 1) {
    const sp = out('scale_full')
    nodes.push({ name: names.take(`${base}_MulPower`), op_type: 'Mul', input: [s, constant('scale_power', DataType.FLOAT, [], Float32Array.of(compact.power))], output: [sp] })
    s = sp
  }
  // float16/bfloat16/double weights go back to their own type so consumers see what they expect
  const originalType = def.tensor.data_type ?? DataType.FLOAT
  const scaled = originalType === DataType.FLOAT ? site.name : out('scaled')
  nodes.push({ name: names.take(`${base}_MulScale`), op_type: 'Mul', input: [q, s], output: [scaled] })
  if (originalType !== DataType.FLOAT) nodes.push(cast(names.take(`${base}_CastBack`), scaled, site.name, originalType))

  putDecodeInPlace(site, tensors, nodes, (t) => names.take(`${t.name}_Constant`))
}

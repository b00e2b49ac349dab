import { DataType, int64ToNumber, type ModelProto, type TensorProto } from '../../onnx/onnx-types.js'
import { elementCount, rawBytes, tensorDims, tensorToFloat32 } from '../../onnx/tensor-data.js'

/**
 * The quantization of one DequantizeLinear output, as the quantized model stores it: what the
 * format's quant_param.csv lists, and the grid the recommendations measure clipping against.
 */
export interface DequantParams {
  /** One per channel (per-tensor: one). */
  scale: Float32Array
  zeroPoint: Float64Array
  /** The channel axis of a per-channel quantization (normalized, >= 0); null per tensor. */
  axis: number | null
  /** Width of the integer codes (8 for int8/uint8, 32 for an int32 bias). */
  bits: number
  /** The codes' range: [qmin, qmax]. */
  qmin: number
  qmax: number
  /** Dims of the codes when they are a constant (weights, biases); null for activations. */
  constDims: number[] | null
}

const CODE_TYPES: ReadonlyMap<number, { bits: number; qmin: number; qmax: number }> = new Map([
  [DataType.INT8, { bits: 8, qmin: -128, qmax: 127 }],
  [DataType.UINT8, { bits: 8, qmin: 0, qmax: 255 }],
  [DataType.INT16, { bits: 16, qmin: -32768, qmax: 32767 }],
  [DataType.UINT16, { bits: 16, qmin: 0, qmax: 65535 }],
  [DataType.INT32, { bits: 32, qmin: -2147483648, qmax: 2147483647 }],
  [DataType.INT4, { bits: 4, qmin: -8, qmax: 7 }],
  [DataType.UINT4, { bits: 4, qmin: 0, qmax: 15 }],
])

/**
 * Every main-graph DequantizeLinear of `model` whose scale (and zero point) are constants, by its
 * output name. The codes' type comes from the zero point, else from the codes when they are a
 * constant, else from the QuantizeLinear that writes them; DequantizeLinear without a zero point
 * and with unknown codes is taken as int8 (QuantizeLinear's default output type).
 */
export function dequantParams(model: ModelProto): Map<string, DequantParams> {
  const graph = model.graph
  const out = new Map<string, DequantParams>()
  if (!graph) return out
  const constants = new Map<string, TensorProto>()
  for (const t of graph.initializer ?? []) if (t.name) constants.set(t.name, t)
  const quantizers = new Map<string, { zeroPoint?: string }>()
  for (const n of graph.node ?? []) {
    const t = n.op_type === 'Constant' ? n.attribute?.find((a) => a.name === 'value')?.t : undefined
    if (t && n.output?.[0]) constants.set(n.output[0], t)
    if (n.op_type === 'QuantizeLinear' && n.output?.[0]) quantizers.set(n.output[0], { zeroPoint: n.input?.[2] })
  }
  for (const n of graph.node ?? []) {
    if (n.op_type !== 'DequantizeLinear' || n.domain || !n.output?.[0]) continue
    const [codes = '', scaleName = '', zpName = ''] = n.input ?? []
    const scaleT = constants.get(scaleName)
    if (!scaleT) continue
    const zpT = zpName ? constants.get(zpName) : undefined
    if (zpName && !zpT) continue
    const codesT = constants.get(codes)
    const producerZp = quantizers.get(codes)?.zeroPoint
    const type = zpT?.data_type ?? codesT?.data_type ?? (producerZp ? constants.get(producerZp)?.data_type : undefined) ?? DataType.INT8
    const range = CODE_TYPES.get(type)
    if (!range) continue
    const scale = tensorToFloat32(scaleT)
    const zeroPoint = zpT ? integers(zpT) : new Float64Array(scale.length)
    const axisAttr = n.attribute?.find((a) => a.name === 'axis')
    const constDims = codesT ? tensorDims(codesT) : null
    let axis: number | null = null
    if (scale.length > 1 || tensorDims(scaleT).length === 1) {
      // a 1-D scale is per channel along `axis` (default 1), negative counted from the end
      const rank = constDims?.length ?? 0
      const a = axisAttr ? int64ToNumber(axisAttr.i) : 1
      axis = a < 0 ? a + rank : a
    }
    out.set(n.output[0], { scale, zeroPoint, axis, constDims, ...range })
  }
  return out
}

/** The integer values of a small integer tensor (zero points). */
function integers(t: TensorProto): Float64Array {
  const n = elementCount(tensorDims(t))
  const raw = rawBytes(t)
  // 4-bit values come two to a byte (raw_data) or to an int32_data entry, the first in the low nibble
  const fourBit = t.data_type === DataType.INT4 || t.data_type === DataType.UINT4
  const nibble = (byte: number, i: number): number => {
    const v = (i & 1 ? byte >> 4 : byte) & 15
    return t.data_type === DataType.INT4 && v > 7 ? v - 16 : v
  }
  if (raw && raw.byteLength > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
    const out = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      switch (t.data_type) {
        case DataType.INT8: out[i] = view.getInt8(i); break
        case DataType.UINT8: out[i] = view.getUint8(i); break
        case DataType.INT16: out[i] = view.getInt16(i * 2, true); break
        case DataType.UINT16: out[i] = view.getUint16(i * 2, true); break
        case DataType.INT32: out[i] = view.getInt32(i * 4, true); break
        case DataType.INT4: case DataType.UINT4: out[i] = nibble(view.getUint8(i >> 1), i); break
        default: out[i] = 0
      }
    }
    return out
  }
  const data = t.int32_data ?? []
  return fourBit ? Float64Array.from({ length: n }, (_, i) => nibble(data[i >> 1] ?? 0, i)) : Float64Array.from(data, Number)
}

/**
 * Share of `values` (the original float tensor, laid out as `dims`) that the quantization grid
 * cannot hold: those whose code saturates, beyond [scale * (qmin - zp), scale * (qmax - zp)] of
 * their channel by more than half a step. Within half a step a value rounds to the grid's end
 * like any other rounding (a symmetric weight's largest value sits there up to the float32
 * rounding of its scale). Unlike the format's Clip (outside the dequantized values' own
 * min..max), a value rounded inward from the grid's end is not counted: only what is cut.
 */
export function gridClipShare(values: Float32Array, dims: readonly number[], p: DequantParams): number {
  if (values.length === 0) return 0
  const channels = p.scale.length
  let inner = 1
  if (p.axis !== null && channels > 1) for (let i = p.axis + 1; i < dims.length; i++) inner *= dims[i]!
  const lo = new Float64Array(channels)
  const hi = new Float64Array(channels)
  for (let c = 0; c < channels; c++) {
    lo[c] = p.scale[c]! * (p.qmin - 0.5 - p.zeroPoint[c]!)
    hi[c] = p.scale[c]! * (p.qmax + 0.5 - p.zeroPoint[c]!)
  }
  let out = 0
  for (let i = 0; i < values.length; i++) {
    const c = channels > 1 ? Math.floor(i / inner) % channels : 0
    const x = values[i]!
    if (x < lo[c]! || x > hi[c]!) out++
  }
  return out / values.length
}

import { integerValues } from '../../onnx/integer-values.js'
import { DataType, int64ToNumber, type ModelProto } from '../../onnx/onnx-types.js'
import { tensorDims, tensorToFloat32 } from '../../onnx/tensor-data.js'
import { indexGraph } from '../../quant/full/graph-index.js'
import { axisLayout } from '../../quant/per-channel.js'

/**
 * The quantization of one DequantizeLinear output, as the quantized model stores it: what the
 * format's quant_param.csv lists, and the grid the recommendations measure clipping against.
 */
export interface DequantParams {
  /** One per channel (per-tensor: one). */
  scale: Float32Array
  zeroPoint: Int32Array
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
  const index = indexGraph(graph)
  const constant = (name: string) => index.constants.get(name)?.tensor
  for (const n of graph.node ?? []) {
    if (n.op_type !== 'DequantizeLinear' || n.domain || !n.output?.[0]) continue
    const [codes = '', scaleName = '', zpName = ''] = n.input ?? []
    const scaleT = constant(scaleName)
    if (!scaleT) continue
    const zpT = zpName ? constant(zpName) : undefined
    if (zpName && !zpT) continue
    const codesT = constant(codes)
    const quantizer = index.producer.get(codes)
    const producerZp = quantizer?.op_type === 'QuantizeLinear' ? quantizer.input?.[2] : undefined
    const type = zpT?.data_type ?? codesT?.data_type ?? (producerZp ? constant(producerZp)?.data_type : undefined) ?? DataType.INT8
    const range = CODE_TYPES.get(type)
    if (!range) continue
    const scale = tensorToFloat32(scaleT)
    const zeroPoint = zpT ? integerValues(zpT) : new Int32Array(scale.length)
    // a zero point that does not hold its values: onnxruntime would not run the model either
    if (!zeroPoint) continue
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
  const inner = p.axis !== null && channels > 1 ? axisLayout(dims, p.axis).inner : 1
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

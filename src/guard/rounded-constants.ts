import { attr } from '../onnx/graph-walk.js'
import { integerValues } from '../onnx/integer-values.js'
import { DataType, int64ToNumber, type ModelProto, type TensorProto } from '../onnx/onnx-types.js'
import { elementCount, tensorDims, tensorToFloat32 } from '../onnx/tensor-data.js'
import type { GatedConstant } from '../quant/full/gated-rounding.js'
import { indexGraph, type GraphIndex } from '../quant/full/graph-index.js'

/**
 * The constant inputs the quantized (QDQ) model computes with differently from the float one:
 * weights as their DequantizeLinear gives them back, biases after correction and int32
 * rounding, a corrected Add constant after a MatMul. Matched by node name and input position;
 * a constant the quantized model reads through anything but an initializer or a
 * DequantizeLinear of initializers is left out. A bias the quantized model added to a Conv
 * or Gemm without one (bias correction) is listed too; its float value is 0.
 */
export function roundedConstants(float: ModelProto, quantized: ModelProto): GatedConstant[] {
  const fg = float.graph
  const qg = quantized.graph
  if (!fg || !qg) return []
  const floatConstants = constantsOf(indexGraph(fg))
  const qIndex = indexGraph(qg)
  const qProducer = qIndex.producer
  const quantConstants = constantsOf(qIndex)
  const qNodes = new Map((qg.node ?? []).filter((n) => n.name).map((n) => [n.name!, n]))
  const out: GatedConstant[] = []
  for (const node of fg.node ?? []) {
    const q = node.name ? qNodes.get(node.name) : undefined
    if (!q || q.op_type !== node.op_type) continue
    for (const [i, qName] of (q.input ?? []).entries()) {
      if (!qName) continue
      const name = node.input?.[i] ?? ''
      // an input the float node lacks: a bias that bias correction added (the float value is 0)
      const original = name ? floatConstants.get(name) : undefined
      if (name && (!original || original.data_type !== DataType.FLOAT)) continue
      let rounded: Float32Array | null = null
      const direct = quantConstants.get(qName)
      if (direct) rounded = direct.data_type === DataType.FLOAT ? tensorToFloat32(direct) : null
      else {
        const dq = qProducer.get(qName)
        if (dq?.op_type === 'DequantizeLinear' && !dq.domain) rounded = dequantize(dq.input ?? [], int64ToNumber(attr(dq, 'axis')?.i ?? 1), quantConstants)
      }
      if (!rounded) continue
      if (!original) {
        if (i !== 2 || !['Conv', 'Gemm', 'ConvTranspose'].includes(node.op_type ?? '')) continue
        out.push({ node: node.name!, input: i, rounded, dims: [rounded.length] })
        continue
      }
      const values = tensorToFloat32(original)
      if (rounded.length !== values.length || rounded.every((v, k) => v === values[k])) continue
      out.push({ node: node.name!, input: i, rounded, dims: tensorDims(original) })
    }
  }
  return out
}

function constantsOf(index: GraphIndex): Map<string, TensorProto> {
  return new Map([...index.constants].map(([k, d]) => [k, d.tensor]))
}

/** DequantizeLinear of constant inputs, per tensor or along `axis`. */
function dequantize(inputs: readonly string[], axis: number, constants: Map<string, TensorProto>): Float32Array | null {
  const x = constants.get(inputs[0] ?? '')
  const s = constants.get(inputs[1] ?? '')
  const z = inputs[2] ? constants.get(inputs[2]) : undefined
  if (!x || !s || (inputs[2] && !z)) return null
  const codes = integerValues(x)
  const scale = tensorToFloat32(s)
  const zero = z ? integerValues(z) : null
  if (!codes) return null
  const dims = tensorDims(x)
  const a = axis < 0 ? axis + dims.length : axis
  const perAxis = scale.length > 1
  const stride = perAxis ? elementCount(dims.slice(a + 1)) : 1
  const channels = perAxis ? dims[a]! : 1
  const out = new Float32Array(codes.length)
  for (let i = 0; i < codes.length; i++) {
    const c = perAxis ? Math.floor(i / stride) % channels : 0
    out[i] = Math.fround((codes[i]! - (zero?.[c] ?? 0)) * scale[c]!)
  }
  return out
}

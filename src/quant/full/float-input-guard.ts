import { AttributeType, DataType, type GraphProto, type NodeProto, type TensorProto } from '../../onnx/onnx-types.js'
import { makeTensor, tensorDims, tensorToFloat32 } from '../../onnx/tensor-data.js'
import { type NameAllocator } from '../../onnx/graph-walk.js'

const WEIGHTED = new Set(['Conv', 'ConvTranspose', 'Gemm'])

function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = (node.attribute ?? []).find((x) => x.name === name)
  return a?.i === undefined ? fallback : Number(a.i)
}

/** The axis of input 0 that the op reduces over (its input channels) and its length, from the weight's dims. */
function inputChannels(node: NodeProto, weightDims: readonly number[]): { axis: number; size: number } | null {
  if (node.op_type === 'Conv') return weightDims.length >= 2 ? { axis: 1, size: weightDims[1]! * intAttr(node, 'group', 1) } : null
  if (node.op_type === 'ConvTranspose') return weightDims.length >= 1 ? { axis: 1, size: weightDims[0]! } : null
  if (weightDims.length !== 2) return null
  const k = intAttr(node, 'transB', 0) === 1 ? weightDims[1]! : weightDims[0]!
  return { axis: intAttr(node, 'transA', 0) === 1 ? 0 : 1, size: k }
}

/**
 * Keep float the Conv, ConvTranspose and Gemm ops the plan left float although their input is
 * a quantized activation (skip_quant_node, the float fallback, weight-only ops next to a float
 * output). onnxruntime's WeightBiasQuantization pass (in every optimization level above
 * "disabled", in onnxruntime-node and -web alike) quantizes the float weight of any such op whose
 * input 0 comes from a DequantizeLinear with a per-tensor scale, to int8 per tensor, so the op
 * ran in int8 with a coarser weight than our per-channel one (PP-OCR cls: 5 kept-float convs).
 * Reading the activation through a per-axis DequantizeLinear with the same scale and zero point
 * on every channel computes the same values and does not match that pass. Needs opset 13
 * (DequantizeLinear's axis); `weightDims` gives the weight dims of ops whose weight is decoded by
 * nodes (not a plain constant). Returns how many ops it guarded.
 */
export function guardFloatInputs(graph: GraphProto, names: NameAllocator, weightDims: ReadonlyMap<string, readonly number[]>): number {
  const nodes = graph.node ?? []
  const producer = new Map<string, NodeProto>()
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n)
  const inits = new Map<string, TensorProto>()
  for (const t of graph.initializer ?? []) if (t.name) inits.set(t.name, t)
  const constantDims = (name: string): readonly number[] | null => {
    const t = inits.get(name) ?? producer.get(name)?.attribute?.find((a) => a.name === 'value')?.t
    if (t && (inits.has(name) || producer.get(name)?.op_type === 'Constant')) return tensorDims(t)
    return weightDims.get(name) ?? null
  }
  const out: NodeProto[] = []
  let guarded = 0
  for (const n of nodes) {
    const dq = producer.get(n.input?.[0] ?? '')
    const weight = n.input?.[1] ?? ''
    const scale = dq?.op_type === 'DequantizeLinear' ? inits.get(dq.input?.[1] ?? '') : undefined
    const zp = dq?.input?.[2] ? inits.get(dq.input[2]) : undefined
    const dims = WEIGHTED.has(n.op_type ?? '') && dq && scale && tensorDims(scale).length === 0 && producer.get(weight)?.op_type !== 'DequantizeLinear' ? constantDims(weight) : null
    const channels = dims ? inputChannels(n, dims) : null
    const zpType = zp?.data_type
    if (!dq || !scale || !channels || (dq.input?.[2] && !zp) || (zp && zpType !== DataType.INT8 && zpType !== DataType.UINT8) || (zp && !zp.raw_data)) {
      out.push(n)
      continue
    }
    const base = `${n.name || n.output![0]!}_input`
    const s = names.take(`${base}_channel_scale`)
    graph.initializer!.push(makeTensor(s, DataType.FLOAT, [channels.size], new Float32Array(channels.size).fill(tensorToFloat32(scale)[0]!)))
    const inputs = [dq.input![0]!, s]
    if (zp) {
      const z = names.take(`${base}_channel_zero_point`)
      const value = zp.data_type === DataType.INT8 ? new Int8Array(channels.size).fill(new Int8Array(zp.raw_data!.buffer, zp.raw_data!.byteOffset, 1)[0]!) : new Uint8Array(channels.size).fill(zp.raw_data![0]!)
      graph.initializer!.push(makeTensor(z, zp.data_type!, [channels.size], value))
      inputs.push(z)
    }
    const x = names.take(`${base}_per_channel`)
    out.push({ name: names.take(`${base}_DequantizeLinear`), op_type: 'DequantizeLinear', input: inputs, output: [x], attribute: [{ name: 'axis', type: AttributeType.INT, i: channels.axis }] })
    n.input = [x, ...n.input!.slice(1)]
    out.push(n)
    guarded++
  }
  graph.node = out
  return guarded
}

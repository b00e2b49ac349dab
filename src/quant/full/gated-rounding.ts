import { decodeModelProto, encodeModelProto } from '../../onnx/codec.js'
import { allNames } from '../../onnx/graph-walk.js'
import { DataType, type NodeProto } from '../../onnx/onnx-types.js'
import { makeTensor } from '../../onnx/tensor-data.js'
import { NameAllocator } from '../dequant-nodes.js'
import type { QuantParams } from './quant-params.js'

/**
 * The float model with a gated QuantizeLinear/DequantizeLinear on each tensor:
 * t' = t + g (DQ(Q(t)) - t), g a scalar graph input, so one session rounds any subset of the
 * tensors by its feeds alone (all gates 0 is the float model). Gate input names by tensor index.
 */
export function gatedModel(floatModel: Uint8Array, tensors: readonly string[], params: ReadonlyMap<string, QuantParams>, activationType: DataType.INT8 | DataType.UINT8): { bytes: Uint8Array; gates: string[] } {
  const model = decodeModelProto(floatModel)
  const graph = model.graph!
  const names = new NameAllocator(allNames(model))
  const producer = new Map<string, NodeProto>()
  for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) producer.set(o, n)
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''))
  const before: NodeProto[] = []
  const after = new Map<NodeProto, NodeProto[]>()
  const renamed = new Map<string, string>()
  const gates: string[] = []
  const inits = (graph.initializer ??= [])
  const inputs = (graph.input ??= [])
  for (const t of tensors) {
    const p = params.get(t)
    const gate = names.take(`${t}_gate`)
    gates.push(gate)
    inputs.push({ name: gate, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: [] } } } })
    if (!p || outputs.has(t)) continue
    const scale = names.take(`${t}_gate_scale`)
    const zp = names.take(`${t}_gate_zero_point`)
    inits.push(makeTensor(scale, DataType.FLOAT, [], Float32Array.of(p.scale)))
    inits.push(makeTensor(zp, activationType, [], activationType === DataType.INT8 ? Int8Array.of(p.zeroPoint) : Uint8Array.of(p.zeroPoint)))
    const q = names.take(`${t}_gate_q`)
    const dq = names.take(`${t}_gate_dq`)
    const diff = names.take(`${t}_gate_diff`)
    const scaled = names.take(`${t}_gate_scaled`)
    const out = names.take(`${t}_gated`)
    const nodes: NodeProto[] = [
      { name: names.take(`${q}_node`), op_type: 'QuantizeLinear', input: [t, scale, zp], output: [q] },
      { name: names.take(`${dq}_node`), op_type: 'DequantizeLinear', input: [q, scale, zp], output: [dq] },
      { name: names.take(`${diff}_node`), op_type: 'Sub', input: [dq, t], output: [diff] },
      { name: names.take(`${scaled}_node`), op_type: 'Mul', input: [diff, gate], output: [scaled] },
      { name: names.take(`${out}_node`), op_type: 'Add', input: [t, scaled], output: [out] },
    ]
    renamed.set(t, out)
    const from = producer.get(t)
    if (from) after.set(from, [...(after.get(from) ?? []), ...nodes])
    else before.push(...nodes)
  }
  for (const n of graph.node ?? []) n.input = (n.input ?? []).map((i) => renamed.get(i) ?? i)
  const ordered: NodeProto[] = [...before]
  for (const n of graph.node ?? []) {
    ordered.push(n)
    const extra = after.get(n)
    if (extra) ordered.push(...extra)
  }
  graph.node = ordered
  return { bytes: encodeModelProto(model), gates }
}

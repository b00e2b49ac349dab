import { decodeModelProto, encodeModelProto } from '../../onnx/codec.js'
import { allNames, NameAllocator } from '../../onnx/graph-walk.js'
import { DataType, type NodeProto } from '../../onnx/onnx-types.js'
import { makeTensor, tensorToFloat32 } from '../../onnx/tensor-data.js'
import type { QuantParams } from './quant-params.js'

/**
 * A constant input of one node replaced by its rounded value when the gate is 1: a weight as
 * its DequantizeLinear gives it back, a bias after bias correction and int32 rounding.
 */
export interface GatedConstant {
  /** The node reading the constant, by name. */
  node: string
  /** Its input position (1: a weight, 2: a bias; a bias the node lacks is added, float value 0). */
  input: number
  /** The float value as the quantized model computes with it (same shape as the original). */
  rounded: Float32Array
  dims: number[]
}

export interface GatedModelOptions {
  /**
   * Constants always read rounded (no gate): a weight's rounding costs little next to its
   * activations', and a Conv whose weight is a graph computation loses onnxruntime's prepacked
   * kernel (measured on PP-OCRv4 rec: 63 vs 110 ms a run). @default none
   */
  fixed?: readonly GatedConstant[]
}

export interface GatedModel {
  bytes: Uint8Array
  /** Gate input names: one per tensor (by index), then one per constant (by index). */
  gates: string[]
}

/**
 * The float model with a gated QuantizeLinear/DequantizeLinear on each tensor:
 * t' = t + g (DQ(Q(t)) - t), g a scalar graph input, so one session rounds any subset of the
 * tensors by its feeds alone (all gates 0 is the float model). Constants listed in `constants`
 * are gated the same way, c' = c + g (rounded - c), so that weight rounding and bias
 * correction take part too: without them the gated model misjudges what keeping a node float
 * is worth (on PP-OCRv4 rec it ranked first a conv whose skipping lowered the real model's cosine).
 */
export function gatedModel(floatModel: Uint8Array, tensors: readonly string[], params: ReadonlyMap<string, QuantParams>, activationType: DataType.INT8 | DataType.UINT8, constants: readonly GatedConstant[] = [], options: GatedModelOptions = {}): GatedModel {
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
  const gateInput = (base: string): string => {
    const gate = names.take(`${base}_gate`)
    gates.push(gate)
    inputs.push({ name: gate, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: [] } } } })
    return gate
  }
  for (const t of tensors) {
    const p = params.get(t)
    const gate = gateInput(t)
    if (!p) continue
    // a graph output keeps its name on the gated value (the quantized model rounds it too)
    const from = producer.get(t)
    const isOutput = outputs.has(t) && !!from
    const raw = isOutput ? names.take(`${t}_gate_raw`) : t
    if (isOutput) from.output = (from.output ?? []).map((o) => (o === t ? raw : o))
    const scale = names.take(`${t}_gate_scale`)
    const zp = names.take(`${t}_gate_zero_point`)
    inits.push(makeTensor(scale, DataType.FLOAT, [], Float32Array.of(p.scale)))
    inits.push(makeTensor(zp, activationType, [], activationType === DataType.INT8 ? Int8Array.of(p.zeroPoint) : Uint8Array.of(p.zeroPoint)))
    const q = names.take(`${t}_gate_q`)
    const dq = names.take(`${t}_gate_dq`)
    const diff = names.take(`${t}_gate_diff`)
    const scaled = names.take(`${t}_gate_scaled`)
    const out = isOutput ? t : names.take(`${t}_gated`)
    const nodes: NodeProto[] = [
      { name: names.take(`${q}_node`), op_type: 'QuantizeLinear', input: [raw, scale, zp], output: [q] },
      { name: names.take(`${dq}_node`), op_type: 'DequantizeLinear', input: [q, scale, zp], output: [dq] },
      { name: names.take(`${diff}_node`), op_type: 'Sub', input: [dq, raw], output: [diff] },
      { name: names.take(`${scaled}_node`), op_type: 'Mul', input: [diff, gate], output: [scaled] },
      { name: names.take(`${out}_node`), op_type: 'Add', input: [raw, scaled], output: [out] },
    ]
    if (isOutput) renamed.set(t, t)
    else renamed.set(t, out)
    if (from) after.set(from, [...(after.get(from) ?? []), ...nodes])
    else before.push(...nodes)
  }
  for (const n of graph.node ?? []) n.input = (n.input ?? []).map((i) => renamed.get(i) ?? i)

  // constants: read through c + g (rounded - c), rewired on the one reading node only (a shared
  // constant may be rounded for one reader and not another)
  const byName = new Map<string, NodeProto>()
  for (const n of graph.node ?? []) if (n.name) byName.set(n.name, n)
  const setInput = (reader: NodeProto, at: number, name: string): void => {
    const ins = [...(reader.input ?? [])]
    while (ins.length < at) ins.push('')
    ins[at] = name
    reader.input = ins
  }
  for (const c of options.fixed ?? []) {
    const reader = byName.get(c.node)
    const original = reader?.input?.[c.input]
    if (!reader || (original && constantValues(graph, original)?.length !== c.rounded.length)) continue
    const fixed = names.take(`${original || `${c.node}_${c.input}`}_rounded`)
    inits.push(makeTensor(fixed, DataType.FLOAT, c.dims, c.rounded))
    setInput(reader, c.input, fixed)
  }
  for (const c of constants) {
    const reader = byName.get(c.node)
    const original = reader?.input?.[c.input]
    const gate = gateInput(`${c.node}_${c.input}`)
    if (!reader) continue
    // no original: an added bias, whose float value is 0
    const values = original ? constantValues(graph, original) : new Float32Array(c.rounded.length)
    if (!values || values.length !== c.rounded.length) continue
    const delta = new Float32Array(values.length)
    for (let i = 0; i < delta.length; i++) delta[i] = c.rounded[i]! - values[i]!
    const base = original || `${c.node}_${c.input}`
    const deltaName = names.take(`${base}_gate_delta`)
    inits.push(makeTensor(deltaName, DataType.FLOAT, c.dims, delta))
    const scaled = names.take(`${base}_gate_scaled`)
    const out = names.take(`${base}_gated`)
    before.push({ name: names.take(`${scaled}_node`), op_type: 'Mul', input: [deltaName, gate], output: [scaled] })
    if (original) before.push({ name: names.take(`${out}_node`), op_type: 'Add', input: [original, scaled], output: [out] })
    setInput(reader, c.input, original ? out : scaled)
  }
  const ordered: NodeProto[] = []
  // constants first: the gated constants read them before any other node runs
  const constantNodes = (graph.node ?? []).filter((n) => n.op_type === 'Constant' && !n.domain)
  ordered.push(...constantNodes, ...before)
  for (const n of graph.node ?? []) {
    if (n.op_type === 'Constant' && !n.domain) continue
    ordered.push(n)
    const extra = after.get(n)
    if (extra) ordered.push(...extra)
  }
  graph.node = ordered
  return { bytes: encodeModelProto(model), gates }
}

/** A float initializer's or Constant node's values, null for anything else. */
function constantValues(graph: NonNullable<ReturnType<typeof decodeModelProto>['graph']>, name: string): Float32Array | null {
  const init = (graph.initializer ?? []).find((t) => t.name === name)
  const tensor = init ?? (graph.node ?? []).find((n) => n.op_type === 'Constant' && !n.domain && n.output?.[0] === name)?.attribute?.find((a) => a.name === 'value')?.t
  if (!tensor || tensor.data_type !== DataType.FLOAT) return null
  return tensorToFloat32(tensor)
}

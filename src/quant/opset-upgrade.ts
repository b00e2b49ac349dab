import { allGraphScopes, attr, opsetVersion, type NameAllocator } from '../onnx/graph-walk.js'
import { AttributeType, DataType, int64ToNumber, type AttributeProto, type GraphProto, type ModelProto, type NodeProto } from '../onnx/onnx-types.js'
import { makeTensor } from '../onnx/tensor-data.js'

/** What raising the opset did. */
export interface OpsetUpgrade {
  from: number
  to: number
  /** Nodes rewritten to the new signature, per op type (Clip and Pad moved attributes to inputs…). */
  rewritten: Record<string, number>
}

/**
 * Ops whose meaning changed on the way from `from` to `to` in a way no rewrite here reproduces;
 * a model holding one keeps its opset.
 */
function blockerOf(op: string, from: number, to: number): boolean {
  if (op === 'Upsample') return to >= 10 // deprecated by 10, its replacement Resize reads differently
  if (op === 'Scatter') return to >= 11
  if (op === 'Resize') return from < 11 && to >= 11 // coordinate transformation modes arrived at 11
  return false
}

/**
 * Raise the default-domain opset to `to` (DYNAMIC_QUANT needs 11 for DynamicQuantizeLinear,
 * FULL_QUANT 13 for per-channel DequantizeLinear), rewriting with the same results the ops whose
 * signature changed on the way: attributes that became inputs (Slice and TopK at 10, Clip and Pad
 * at 11, Squeeze, Unsqueeze, ReduceSum and Split at 13), Dropout (an identity at inference), and
 * Softmax's 2-D coercion before 13 (Flatten → Softmax → Reshape). Every other op kept its meaning
 * for valid models (later versions only added types, negative axes or attributes with the old
 * default). Changes nothing and names the blockers when an op that did change is present or the
 * model predates opset 7 (BatchNormalization and others changed attributes there).
 */
export function raiseOpset(model: ModelProto, to: number, names: NameAllocator): { upgrade: OpsetUpgrade | null; blockers: string[] } {
  const from = opsetVersion(model)
  if (from >= to) return { upgrade: null, blockers: [] }
  const blockers = new Set<string>()
  for (const { graph } of allGraphScopes(model)) {
    for (const n of graph.node ?? []) if (!n.domain && blockerOf(n.op_type ?? '', from, to)) blockers.add(n.op_type!)
  }
  if (from < 7) blockers.add(`opset ${from}`)
  if (blockers.size) return { upgrade: null, blockers: [...blockers] }
  const rewritten: Record<string, number> = {}
  for (const { graph } of allGraphScopes(model)) {
    const nodes: NodeProto[] = []
    for (const n of graph.node ?? []) {
      const replaced = n.domain ? null : upgradeNode(n, graph, from, to, names)
      if (!replaced) {
        nodes.push(n)
        continue
      }
      rewritten[n.op_type!] = (rewritten[n.op_type!] ?? 0) + 1
      nodes.push(...replaced)
    }
    graph.node = nodes
  }
  for (const o of model.opset_import ?? []) if (!o.domain || o.domain === 'ai.onnx') o.version = to
  // IR 7 came with opset 13 (ONNX 1.8); an older IR version does not declare it
  if (to >= 13 && int64ToNumber(model.ir_version) < 7) model.ir_version = 7
  return { upgrade: { from, to, rewritten }, blockers: [] }
}

function ints(node: NodeProto, name: string): number[] | null {
  const a = attr(node, name)
  return a?.ints?.length ? a.ints.map(int64ToNumber) : null
}

function without(node: NodeProto, drop: string[]): AttributeProto[] {
  return (node.attribute ?? []).filter((a) => !drop.includes(a.name ?? ''))
}

function int64Const(graph: GraphProto, names: NameAllocator, base: string, values: number[]): string {
  const name = names.take(base)
  ;(graph.initializer ??= []).push(makeTensor(name, DataType.INT64, [values.length], BigInt64Array.from(values.map(BigInt))))
  return name
}

function floatConst(graph: GraphProto, names: NameAllocator, base: string, value: number): string {
  const name = names.take(base)
  ;(graph.initializer ??= []).push(makeTensor(name, DataType.FLOAT, [], Float32Array.of(value)))
  return name
}

/** The node's replacement at the new opset, or null when its meaning did not change. */
function upgradeNode(n: NodeProto, graph: GraphProto, from: number, to: number, names: NameAllocator): NodeProto[] | null {
  const crosses = (version: number): boolean => from < version && to >= version
  const base = n.name || n.output?.[0] || 'node'
  const inputs = [...(n.input ?? [])]
  switch (n.op_type) {
    case 'Slice': {
      if (!crosses(10)) return null
      const extra = [int64Const(graph, names, `${base}_starts`, ints(n, 'starts') ?? []), int64Const(graph, names, `${base}_ends`, ints(n, 'ends') ?? [])]
      const axes = ints(n, 'axes')
      if (axes) extra.push(int64Const(graph, names, `${base}_axes`, axes))
      return [{ ...n, input: [inputs[0]!, ...extra], attribute: without(n, ['starts', 'ends', 'axes']) }]
    }
    case 'TopK': {
      if (!crosses(10)) return null
      const k = int64ToNumber(attr(n, 'k')?.i)
      return [{ ...n, input: [inputs[0]!, int64Const(graph, names, `${base}_k`, [k])], attribute: without(n, ['k']) }]
    }
    case 'Clip': {
      if (!crosses(11)) return null
      // Clip-6's defaults are the float range, which an absent input means in Clip-11 too
      const min = attr(n, 'min') ? floatConst(graph, names, `${base}_min`, attr(n, 'min')!.f ?? 0) : ''
      const max = attr(n, 'max') ? floatConst(graph, names, `${base}_max`, attr(n, 'max')!.f ?? 0) : ''
      return [{ ...n, input: max ? [inputs[0]!, min, max] : min ? [inputs[0]!, min] : [inputs[0]!], attribute: without(n, ['min', 'max']) }]
    }
    case 'Pad': {
      if (!crosses(11)) return null
      const pads = int64Const(graph, names, `${base}_pads`, ints(n, 'pads') ?? [])
      const value = floatConst(graph, names, `${base}_value`, attr(n, 'value')?.f ?? 0)
      return [{ ...n, input: [inputs[0]!, pads, value], attribute: without(n, ['pads', 'value']) }]
    }
    case 'Dropout':
      // Dropout-12 reads its ratio from an input; at inference it is an identity on the data
      // (a read mask output is not supported)
      if (!crosses(12)) return null
      return [{ name: n.name, op_type: 'Identity', input: [inputs[0]!], output: [n.output![0]!] }]
    case 'Squeeze':
    case 'Unsqueeze':
    case 'ReduceSum': {
      const axes = ints(n, 'axes')
      if (!crosses(13) || !axes) return null
      return [{ ...n, input: [inputs[0]!, int64Const(graph, names, `${base}_axes`, axes)], attribute: without(n, ['axes']) }]
    }
    case 'Split': {
      const split = ints(n, 'split')
      if (!crosses(13) || !split) return null
      return [{ ...n, input: [inputs[0]!, int64Const(graph, names, `${base}_split`, split)], attribute: without(n, ['split']) }]
    }
    case 'Softmax':
    case 'LogSoftmax':
    case 'Hardmax': {
      // before 13 the input is coerced to 2-D at `axis` (default 1) and normalised over dim 1
      if (!crosses(13)) return null
      const a = attr(n, 'axis')
      const axis = a ? int64ToNumber(a.i) : 1
      if (axis === -1) return null
      const flat = names.take(`${base}_flat`)
      const soft = names.take(`${base}_2d`)
      const shape = names.take(`${base}_shape`)
      return [
        { name: names.take(`${base}_Flatten`), op_type: 'Flatten', input: [inputs[0]!], output: [flat], attribute: [{ name: 'axis', type: AttributeType.INT, i: axis }] },
        { ...n, input: [flat], output: [soft], attribute: [{ name: 'axis', type: AttributeType.INT, i: -1 }] },
        { name: names.take(`${base}_Shape`), op_type: 'Shape', input: [inputs[0]!], output: [shape] },
        { name: names.take(`${base}_Reshape`), op_type: 'Reshape', input: [soft, shape], output: [n.output![0]!] },
      ]
    }
    default:
      return null
  }
}

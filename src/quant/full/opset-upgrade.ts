import { allGraphScopes, attr, opsetVersion } from '../../onnx/graph-walk.js'
import { AttributeType, DataType, int64ToNumber, type AttributeProto, type GraphProto, type ModelProto, type NodeProto } from '../../onnx/onnx-types.js'
import { makeTensor } from '../../onnx/tensor-data.js'
import type { NameAllocator } from '../dequant-nodes.js'

/**
 * Per-channel DequantizeLinear (its `axis` attribute) needs opset 13; PP-OCR exports are opset 9
 * and 11. This lifts a model to opset 13 by rewriting, with the same results, the ops whose
 * signature changed between 9 and 13 (attributes that became inputs; Softmax's 2-D coercion
 * becomes Flatten -> Softmax -> Reshape). Returns the op types it cannot rewrite; the model is
 * left untouched then.
 */
export function upgradeToOpset13(model: ModelProto, names: NameAllocator): { upgraded: boolean; blockers: string[] } {
  const version = opsetVersion(model)
  if (version >= 13) return { upgraded: false, blockers: [] }
  const blockers = new Set<string>()
  for (const { graph } of allGraphScopes(model)) {
    for (const n of graph.node ?? []) {
      const op = n.op_type ?? ''
      if (n.domain) continue
      if (op === 'Upsample' || op === 'Scatter' || (op === 'Resize' && version < 11)) blockers.add(op)
    }
  }
  if (version < 7) blockers.add(`opset ${version}`)
  if (blockers.size) return { upgraded: false, blockers: [...blockers] }
  for (const { graph } of allGraphScopes(model)) {
    const nodes: NodeProto[] = []
    for (const n of graph.node ?? []) nodes.push(...(n.domain ? [n] : upgradeNode(n, graph, version, names)))
    graph.node = nodes
  }
  for (const o of model.opset_import ?? []) if (!o.domain || o.domain === 'ai.onnx') o.version = 13
  if (int64ToNumber(model.ir_version) < 7) model.ir_version = 7
  return { upgraded: true, blockers: [] }
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

function upgradeNode(n: NodeProto, graph: GraphProto, version: number, names: NameAllocator): NodeProto[] {
  const base = n.name || n.output?.[0] || 'node'
  const inputs = [...(n.input ?? [])]
  switch (n.op_type) {
    case 'Slice': {
      if (version >= 10) return [n]
      const starts = ints(n, 'starts') ?? []
      const ends = ints(n, 'ends') ?? []
      const axes = ints(n, 'axes')
      const extra = [int64Const(graph, names, `${base}_starts`, starts), int64Const(graph, names, `${base}_ends`, ends)]
      if (axes) extra.push(int64Const(graph, names, `${base}_axes`, axes))
      return [{ ...n, input: [inputs[0]!, ...extra], attribute: without(n, ['starts', 'ends', 'axes']) }]
    }
    case 'Clip': {
      if (version >= 11) return [n]
      const lo = attr(n, 'min')?.f
      const hi = attr(n, 'max')?.f
      const scalar = (v: number | undefined, suffix: string): string => {
        if (v === undefined || !attr(n, suffix)) return ''
        const name = names.take(`${base}_${suffix}`)
        ;(graph.initializer ??= []).push(makeTensor(name, DataType.FLOAT, [], Float32Array.of(v)))
        return name
      }
      const min = scalar(lo, 'min')
      const max = scalar(hi, 'max')
      return [{ ...n, input: max ? [inputs[0]!, min, max] : min ? [inputs[0]!, min] : [inputs[0]!], attribute: without(n, ['min', 'max']) }]
    }
    case 'Squeeze':
    case 'Unsqueeze': {
      const axes = ints(n, 'axes')
      if (!axes) return [n]
      return [{ ...n, input: [inputs[0]!, int64Const(graph, names, `${base}_axes`, axes)], attribute: without(n, ['axes']) }]
    }
    case 'ReduceSum': {
      const axes = ints(n, 'axes')
      if (!axes) return [n]
      return [{ ...n, input: [inputs[0]!, int64Const(graph, names, `${base}_axes`, axes)], attribute: without(n, ['axes']) }]
    }
    case 'Split': {
      const split = ints(n, 'split')
      if (!split) return [n]
      return [{ ...n, input: [inputs[0]!, int64Const(graph, names, `${base}_split`, split)], attribute: without(n, ['split']) }]
    }
    case 'Dropout':
      // inference: identity on the data (the mask output, if read, is not supported here)
      return [{ name: n.name, op_type: 'Identity', input: [inputs[0]!], output: [n.output![0]!] }]
    case 'Pad': {
      if (version >= 11) return [n]
      const pads = ints(n, 'pads') ?? []
      const value = attr(n, 'value')?.f ?? 0
      const v = names.take(`${base}_value`)
      ;(graph.initializer ??= []).push(makeTensor(v, DataType.FLOAT, [], Float32Array.of(value)))
      return [{ ...n, input: [inputs[0]!, int64Const(graph, names, `${base}_pads`, pads), v], attribute: without(n, ['pads', 'value']) }]
    }
    case 'TopK': {
      if (version >= 10) return [n]
      const k = int64ToNumber(attr(n, 'k')?.i)
      return [{ ...n, input: [inputs[0]!, int64Const(graph, names, `${base}_k`, [k])], attribute: without(n, ['k']) }]
    }
    case 'Softmax':
    case 'LogSoftmax':
    case 'Hardmax': {
      // before 13: the input is coerced to 2-D at `axis` (default 1) and normalised over dim 1
      const a = attr(n, 'axis')
      const axis = a ? int64ToNumber(a.i) : 1
      if (axis === -1) return [n]
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
      return [n]
  }
}

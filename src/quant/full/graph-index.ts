import { attr, redefinedNames } from '../../onnx/graph-walk.js'
import type { Exposure } from '../../onnx/exposed-constants.js'
import { DataType, type GraphProto, type NodeProto, type TensorProto } from '../../onnx/onnx-types.js'

/** A constant of the main graph: an initializer or the value of a `Constant` node. */
export interface ConstantDef {
  tensor: TensorProto
  /** The Constant node holding it, null for an initializer. */
  node: NodeProto | null
}

/** Lookups over one graph that the QDQ planner and rewriter share. */
export interface GraphIndex {
  graph: GraphProto
  constants: Map<string, ConstantDef>
  producer: Map<string, NodeProto>
  consumers: Map<string, NodeProto[]>
  inputs: Set<string>
  outputs: Set<string>
  /** Names a caller sees (exposedNames): constants among them keep their float name and value. */
  exposed: ReadonlyMap<string, Exposure>
  /** Names defined more than once (redefinedNames): constants among them keep their float definition. */
  redefined: ReadonlySet<string>
  /** Nodes in an order where every producer precedes its consumers (exporters do not always keep one). */
  order: NodeProto[]
}

export function indexGraph(graph: GraphProto, exposed: ReadonlyMap<string, Exposure> = new Map()): GraphIndex {
  const constants = new Map<string, ConstantDef>()
  for (const t of graph.initializer ?? []) if (t.name) constants.set(t.name, { tensor: t, node: null })
  const producer = new Map<string, NodeProto>()
  const consumers = new Map<string, NodeProto[]>()
  for (const node of graph.node ?? []) {
    const value = node.op_type === 'Constant' && !node.domain ? attr(node, 'value') : undefined
    for (const o of node.output ?? []) {
      if (!o) continue
      producer.set(o, node)
      if (value?.t && Object.prototype.hasOwnProperty.call(value, 't')) constants.set(o, { tensor: value.t, node })
    }
    for (const i of node.input ?? []) {
      if (!i) continue
      const list = consumers.get(i)
      if (list) { if (!list.includes(node)) list.push(node) } else consumers.set(i, [node])
    }
  }
  const inits = new Set((graph.initializer ?? []).map((t) => t.name))
  const inputs = new Set((graph.input ?? []).map((v) => v.name ?? '').filter((n) => n && !inits.has(n)))
  const outputs = new Set((graph.output ?? []).map((v) => v.name ?? ''))
  return { graph, constants, producer, consumers, inputs, outputs, exposed, redefined: redefinedNames(graph), order: topologicalOrder(graph.node ?? [], producer) }
}

function topologicalOrder(nodes: readonly NodeProto[], producer: Map<string, NodeProto>): NodeProto[] {
  const out: NodeProto[] = []
  const state = new Map<NodeProto, 1 | 2>()
  for (const root of nodes) {
    if (state.has(root)) continue
    // iterative depth-first walk: real graphs are deep enough to overflow a recursive one
    const stack: { node: NodeProto; next: number }[] = [{ node: root, next: 0 }]
    state.set(root, 1)
    while (stack.length) {
      const top = stack[stack.length - 1]!
      const inputs = top.node.input ?? []
      if (top.next < inputs.length) {
        const p = producer.get(inputs[top.next++]!)
        if (p && !state.has(p)) {
          state.set(p, 1)
          stack.push({ node: p, next: 0 })
        }
        continue
      }
      stack.pop()
      state.set(top.node, 2)
      out.push(top.node)
    }
  }
  return out
}

export function isFloatTensor(t: TensorProto): boolean {
  return (t.data_type ?? 0) === DataType.FLOAT
}

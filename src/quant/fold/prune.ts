// Taking folded nodes out of a graph and then the constants that only they read. Only what a
// fold orphaned is removed: nodes that were already dead in the input stay as they were.
import { consumersOf } from '../../onnx/graph-walk.js'
import type { GraphProto, NodeProto } from '../../onnx/onnx-types.js'

/**
 * Removes `removed` from the graph, then every Constant node and initializer that an input of a
 * removed node (or `released`: names a rewrite stopped reading or producing) named and nothing
 * reads any more. Drops the value_info of those tensors once they no longer exist. Returns how
 * many nodes left the graph.
 */
export function pruneGraph(graph: GraphProto, removed: readonly NodeProto[], released: readonly string[] = []): number {
  const gone = new Set(removed)
  const before = graph.node?.length ?? 0
  const candidates = new Set<string>(released)
  for (const node of removed) for (const i of node.input ?? []) if (i) candidates.add(i)
  graph.node = (graph.node ?? []).filter((n) => !gone.has(n))
  const graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''))
  const graphInputs = new Set((graph.input ?? []).map((i) => i.name ?? ''))
  const readers = consumersOf(graph)
  const unread = (name: string): boolean => !graphOutputs.has(name) && !(readers.get(name)?.length)
  const deadConstants = new Set<NodeProto>()
  for (const node of graph.node) {
    if (node.op_type !== 'Constant' || node.domain) continue
    const out = node.output?.[0]
    if (out && candidates.has(out) && unread(out)) deadConstants.add(node)
  }
  graph.node = graph.node.filter((n) => !deadConstants.has(n))
  if (graph.initializer) graph.initializer = graph.initializer.filter((t) => !(t.name && candidates.has(t.name) && !graphInputs.has(t.name) && unread(t.name)))
  const touched = new Set(candidates)
  for (const node of [...removed, ...deadConstants]) for (const o of node.output ?? []) touched.add(o)
  const defined = new Set<string>([...graphInputs, ...graphOutputs])
  for (const n of graph.node) for (const o of n.output ?? []) defined.add(o)
  for (const t of graph.initializer ?? []) if (t.name) defined.add(t.name)
  if (graph.value_info) graph.value_info = graph.value_info.filter((v) => !touched.has(v.name ?? '') || defined.has(v.name ?? ''))
  return before - graph.node.length
}

import type { AttributeProto, GraphProto, ModelProto, NodeProto, SparseTensorProto, TensorProto } from './onnx-types.js'
import { isExternal } from './tensor-data.js'

/**
 * Called once per TensorProto. `where` describes the tensor's place in the model for error
 * messages, e.g. "graph 'main' > node 'If_0' attribute 'then_branch' > graph 'then' initializer 'W'".
 */
export type TensorVisitor = (tensor: TensorProto, where: string) => void

/**
 * Visit every TensorProto of a model: graph initializers, sparse initializers (values and
 * indices), tensors in node attributes (`t`, `tensors`, `sparse_tensor`, `sparse_tensors`, which
 * is where Constant nodes keep their weights), every subgraph (`g`, `graphs`: If/Loop/Scan
 * bodies) recursively, training graphs, and the nodes and default attributes of model-local
 * functions. Anything that moves tensor data (external data, quantization) must see all of them,
 * or a weight hidden in an If branch silently keeps its old bytes.
 */
export function forEachTensor(model: ModelProto, fn: TensorVisitor): void {
  if (model.graph) visitGraph(model.graph, 'graph', fn)
  for (const [i, info] of (model.training_info ?? []).entries()) {
    if (info.initialization) visitGraph(info.initialization, `training_info[${i}].initialization`, fn)
    if (info.algorithm) visitGraph(info.algorithm, `training_info[${i}].algorithm`, fn)
  }
  for (const f of model.functions ?? []) {
    const where = `function '${f.domain ? `${f.domain}.` : ''}${f.name ?? ''}'`
    visitNodes(f.node ?? [], where, fn)
    for (const attr of f.attribute_proto ?? []) visitAttribute(attr, `${where} default attribute '${attr.name ?? ''}'`, fn)
  }
}

function visitGraph(graph: GraphProto, label: string, fn: TensorVisitor): void {
  const where = `${label} '${graph.name ?? ''}'`
  for (const t of graph.initializer ?? []) fn(t, `${where} initializer '${t.name ?? ''}'`)
  for (const [i, s] of (graph.sparse_initializer ?? []).entries()) {
    visitSparse(s, `${where} sparse_initializer[${i}]`, fn)
  }
  visitNodes(graph.node ?? [], where, fn)
}

function visitNodes(nodes: readonly NodeProto[], where: string, fn: TensorVisitor): void {
  for (const [i, node] of nodes.entries()) {
    const nodeWhere = `${where} > node '${node.name || `#${i} ${node.op_type ?? ''}`}'`
    for (const attr of node.attribute ?? []) visitAttribute(attr, `${nodeWhere} attribute '${attr.name ?? ''}'`, fn)
  }
}

function visitAttribute(attr: AttributeProto, where: string, fn: TensorVisitor): void {
  if (attr.t) fn(attr.t, where)
  for (const [i, t] of (attr.tensors ?? []).entries()) fn(t, `${where}[${i}]`)
  if (attr.sparse_tensor) visitSparse(attr.sparse_tensor, where, fn)
  for (const [i, s] of (attr.sparse_tensors ?? []).entries()) visitSparse(s, `${where}[${i}]`, fn)
  if (attr.g) visitGraph(attr.g, `${where} > graph`, fn)
  for (const [i, g] of (attr.graphs ?? []).entries()) visitGraph(g, `${where}[${i}] > graph`, fn)
}

function visitSparse(s: SparseTensorProto, where: string, fn: TensorVisitor): void {
  if (s.values) fn(s.values, `${where} values`)
  if (s.indices) fn(s.indices, `${where} indices`)
}

/** Whether any tensor of the model, subgraphs and functions included, keeps its data in an external file. */
export function hasExternalData(model: ModelProto): boolean {
  let found = false
  forEachTensor(model, (t) => { found ||= isExternal(t) })
  return found
}

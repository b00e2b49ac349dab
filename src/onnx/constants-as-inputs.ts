import { allGraphScopes, type GraphScope, type NameAllocator } from './graph-walk.js'
import type { GraphProto, ModelProto, NodeProto, TensorProto } from './onnx-types.js'
import { tensorDims } from './tensor-data.js'

/** A constant tensor where the model defines it: a graph initializer, or a `Constant` node's value. */
export interface ConstantDefinition {
  graph: GraphProto
  tensor: TensorProto
  /** The `Constant` node whose value `tensor` is; absent for an initializer. */
  node?: NodeProto
}

/** The name a definition gives its tensor. */
function definedName(def: ConstantDefinition): string {
  return (def.node ? def.node.output?.[0] : def.tensor.name) ?? ''
}

/** Names a graph defines itself (its inputs, initializers and node outputs), which shadow outer ones. */
function localNames(graph: GraphProto): Set<string> {
  const out = new Set<string>()
  for (const v of graph.input ?? []) if (v.name) out.add(v.name)
  for (const t of graph.initializer ?? []) if (t.name) out.add(t.name)
  for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) out.add(o)
  return out
}

/**
 * Turn constant tensors into inputs of the main graph, so that one onnxruntime session runs the
 * model with any values in them: scoring a weight's quantized values then costs one inference,
 * where a model with the values written in costs an encode and a session (PP-OCRv4 det, 4
 * samples at 320x320: 210 ms against 300 ms; rec: 145 against 270). A constant of the main graph
 * keeps its name; one of a subgraph gets a new one, and every reference that resolved to it (in
 * its graph and the graphs nested in it, where no nearer definition shadows the name) follows.
 * Returns each constant's input name, in order. Mutates `model`.
 */
export function constantsAsInputs(model: ModelProto, defs: readonly ConstantDefinition[], names: NameAllocator): string[] {
  const main = model.graph
  if (!main) throw new Error('the model has no graph')
  const scopes = allGraphScopes(model)
  const locals = new Map(scopes.map((s) => [s.graph, localNames(s.graph)]))
  return defs.map((def) => {
    const old = definedName(def)
    if (!old) throw new Error('a constant without a name cannot become an input')
    if (def.node) def.graph.node = (def.graph.node ?? []).filter((n) => n !== def.node)
    else def.graph.initializer = (def.graph.initializer ?? []).filter((t) => t !== def.tensor)
    let name = old
    if (def.graph !== main) {
      name = names.take(old)
      for (const scope of scopes) if (resolvesTo(scope, def.graph, old, locals)) renameReads(scope.graph, old, name)
    }
    // graphs of IR < 4 list their initializers among the inputs already
    if (!(main.input ?? []).some((v) => v.name === name)) {
      ;(main.input ??= []).push({ name, type: { tensor_type: { elem_type: def.tensor.data_type, shape: { dim: tensorDims(def.tensor).map((d) => ({ dim_value: d })) } } } })
    }
    return name
  })
}

/** Whether `name` read in `scope` means the definition in `home`: home encloses it and nothing nearer defines the name. */
function resolvesTo(scope: GraphScope, home: GraphProto, name: string, locals: Map<GraphProto, Set<string>>): boolean {
  for (let s: GraphScope | null = scope; s; s = s.parent) {
    if (s.graph === home) return true
    if (locals.get(s.graph)!.has(name)) return false
  }
  return false
}

function renameReads(graph: GraphProto, from: string, to: string): void {
  for (const node of graph.node ?? []) {
    if (node.input?.includes(from)) node.input = node.input.map((i) => (i === from ? to : i))
  }
  // a subgraph may hand the constant on as one of its outputs (an If branch returning a weight)
  for (const v of graph.output ?? []) if (v.name === from) v.name = to
}

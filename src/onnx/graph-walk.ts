import type { GraphProto, NodeProto, ModelProto, AttributeProto } from './onnx-types.js'

/** A graph together with the graphs that enclose it (subgraphs see their ancestors' names). */
export interface GraphScope {
  graph: GraphProto
  parent: GraphScope | null
  /** The node whose attribute holds this graph (If/Loop/Scan), null for the main graph. */
  owner: NodeProto | null
  /** Path for messages, e.g. `main/If_0.then_branch`. */
  path: string
}

function subgraphsOf(node: NodeProto): { attr: AttributeProto; graph: GraphProto; index: number }[] {
  const out: { attr: AttributeProto; graph: GraphProto; index: number }[] = []
  for (const attr of node.attribute ?? []) {
    if (attr.g && Object.prototype.hasOwnProperty.call(attr, 'g')) out.push({ attr, graph: attr.g, index: -1 })
    attr.graphs?.forEach((graph, index) => out.push({ attr, graph, index }))
  }
  return out
}

/** Every graph of the model, main graph first, then subgraphs depth-first. */
export function allGraphScopes(model: ModelProto): GraphScope[] {
  const out: GraphScope[] = []
  if (!model.graph) return out
  const visit = (scope: GraphScope): void => {
    out.push(scope)
    for (const node of scope.graph.node ?? []) {
      for (const { attr, graph, index } of subgraphsOf(node)) {
        const label = `${node.name || node.op_type}.${attr.name}${index >= 0 ? `[${index}]` : ''}`
        visit({ graph, parent: scope, owner: node, path: `${scope.path}/${label}` })
      }
    }
  }
  visit({ graph: model.graph, parent: null, owner: null, path: model.graph.name || 'main' })
  return out
}

/** Names consumed by a node, including names its subgraphs read from enclosing scopes. */
export function nodeInputs(node: NodeProto): string[] {
  return (node.input ?? []).filter((n) => n !== '')
}

/**
 * A map from tensor name to the nodes that consume it, over one graph and (implicitly) its
 * subgraphs: a subgraph's reference to an outer name counts as a use by the owning node.
 */
export function consumersOf(graph: GraphProto): Map<string, NodeProto[]> {
  const map = new Map<string, NodeProto[]>()
  const add = (name: string, node: NodeProto): void => {
    const list = map.get(name)
    if (list) { if (!list.includes(node)) list.push(node) } else map.set(name, [node])
  }
  const outerRefs = (g: GraphProto, owner: NodeProto, local: Set<string>): void => {
    const defined = new Set(local)
    for (const i of g.input ?? []) if (i.name) defined.add(i.name)
    for (const t of g.initializer ?? []) if (t.name) defined.add(t.name)
    for (const n of g.node ?? []) for (const o of n.output ?? []) defined.add(o)
    for (const n of g.node ?? []) {
      for (const name of nodeInputs(n)) if (!defined.has(name)) add(name, owner)
      for (const { graph } of subgraphsOf(n)) outerRefs(graph, owner, defined)
    }
  }
  for (const node of graph.node ?? []) {
    for (const name of nodeInputs(node)) add(name, node)
    for (const { graph: sub } of subgraphsOf(node)) outerRefs(sub, node, new Set())
  }
  return map
}

export function attr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute?.find((a) => a.name === name)
}

/** The opset version the model imports for a domain ('' and 'ai.onnx' are the same domain). */
export function opsetVersion(model: ModelProto, domain = ''): number {
  const want = domain === 'ai.onnx' ? '' : domain
  for (const o of model.opset_import ?? []) {
    const d = o.domain === 'ai.onnx' ? '' : (o.domain ?? '')
    if (d === want) return typeof o.version === 'number' ? o.version : Number(o.version?.toString() ?? 0)
  }
  return 0
}

/** Every node and tensor name in the model, for allocating new names that collide with none. */
export function allNames(model: ModelProto): Set<string> {
  const used = new Set<string>()
  for (const { graph } of allGraphScopes(model)) {
    for (const node of graph.node ?? []) {
      if (node.name) used.add(node.name)
      for (const o of node.output ?? []) used.add(o)
      for (const i of node.input ?? []) used.add(i)
    }
    for (const t of graph.initializer ?? []) if (t.name) used.add(t.name)
    for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.value_info ?? [])]) if (v.name) used.add(v.name)
  }
  return used
}

/** Generates names no tensor or node of the model uses yet (node and tensor names share one pool). */
export class NameAllocator {
  constructor(private readonly used: Set<string>) {}
  static forModel(model: ModelProto): NameAllocator {
    return new NameAllocator(allNames(model))
  }
  take(base: string): string {
    let name = base
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`
    this.used.add(name)
    return name
  }
}

/**
 * Names `graph` defines more than once (an initializer twice, an initializer and a Constant or
 * other node output, a sparse initializer), or defines once and a graph enclosing it (`enclosing`,
 * for a subgraph) or a subgraph within it again. An initializer also listed as a graph input is
 * one definition. Sibling subgraphs (the two branches of an If) may each define a name: neither
 * sees the other's. onnxruntime keeps one definition of such a name while it is an initializer,
 * but rejects the model once a rewrite makes it a node output, so rewrites leave these names alone.
 */
export function redefinedNames(graph: GraphProto, enclosing: readonly GraphProto[] = []): Set<string> {
  const out = new Set<string>()
  const own = definitionCounts(graph)
  for (const [name, n] of own) if (n > 1) out.add(name)
  for (const outer of enclosing) for (const name of definitionCounts(outer).keys()) if (own.has(name)) out.add(name)
  const visit = (g: GraphProto): void => {
    for (const node of g.node ?? []) {
      for (const { graph: sub } of subgraphsOf(node)) {
        for (const name of definitionCounts(sub).keys()) if (own.has(name)) out.add(name)
        visit(sub)
      }
    }
  }
  visit(graph)
  return out
}

/** How many times each name is defined in one graph (inputs that are also initializers count once). */
function definitionCounts(graph: GraphProto): Map<string, number> {
  const counts = new Map<string, number>()
  const add = (name: string | undefined): void => { if (name) counts.set(name, (counts.get(name) ?? 0) + 1) }
  const inits = new Set<string>()
  for (const t of graph.initializer ?? []) {
    add(t.name)
    if (t.name) inits.add(t.name)
  }
  for (const v of graph.input ?? []) if (v.name && !inits.has(v.name)) add(v.name)
  for (const sparse of graph.sparse_initializer ?? []) add(sparse.values?.name)
  for (const node of graph.node ?? []) for (const o of node.output ?? []) add(o)
  return counts
}

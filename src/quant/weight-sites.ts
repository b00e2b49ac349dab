import { allGraphScopes, attr, redefinedNames, type GraphScope } from '../onnx/graph-walk.js'
import type { GraphProto, ModelProto, NodeProto } from '../onnx/onnx-types.js'
import { trainingNames } from '../onnx/exposed-constants.js'
import { overridableInitializers } from '../onnx/overridable-initializers.js'
import { tensorDims } from '../onnx/tensor-data.js'
import { channelAxisFor, isFloatType, WEIGHT_OPS } from './weight-ops.js'
import { followReshapes, isLayoutOp, weightOpsReached, type Reader } from './weight-paths.js'
import type { WeightDefinition, WeightSite } from './weight-site-types.js'

export type { WeightDefinition, WeightSite, WeightUse } from './weight-site-types.js'

/**
 * Every constant float tensor of the model with every place that reads it, across the main graph
 * and If/Loop/Scan subgraphs (an inner graph may read an outer weight by name).
 */
export function findWeightSites(model: ModelProto): WeightSite[] {
  const scopes = allGraphScopes(model)
  // per graph: the layout op defining each of its names (names are looked up where they resolve,
  // as sibling subgraphs may each define the same name)
  const producers = new Map<GraphProto, Map<string, NodeProto>>()
  // Per graph: locally defined names. A non-constant definition shadows outer weights.
  const locals = new Map<GraphProto, Map<string, WeightDefinition | null>>()
  const overridable = new Set<WeightDefinition>()
  for (const scope of scopes) {
    const defs = new Map<string, WeightDefinition | null>()
    const layoutOuts = new Map<string, NodeProto>()
    for (const input of scope.graph.input ?? []) if (input.name) defs.set(input.name, null)
    // Initializers listed as inputs because the format or the exporter did so for all of them are
    // constants (the rewriter drops the input entry of a tensor it replaces); the others are
    // defaults a caller may override.
    const overrides = overridableInitializers(model, scope.graph)
    for (const tensor of scope.graph.initializer ?? []) {
      if (!tensor.name) continue
      const def: WeightDefinition = { kind: 'initializer', graph: scope.graph, scope, tensor }
      defs.set(tensor.name, def)
      if (overrides.has(tensor.name)) overridable.add(def)
    }
    for (const node of scope.graph.node ?? []) {
      const value = node.op_type === 'Constant' && !node.domain ? attr(node, 'value') : undefined
      for (const out of node.output ?? []) {
        defs.set(out, value?.t && Object.prototype.hasOwnProperty.call(value, 't')
          ? { kind: 'constant', graph: scope.graph, scope, tensor: value.t, node }
          : null)
        if (!value && isLayoutOp(node)) layoutOuts.set(out, node)
      }
    }
    locals.set(scope.graph, defs)
    producers.set(scope.graph, layoutOuts)
  }
  const resolve = (scope: GraphScope | null, name: string): WeightDefinition | null => {
    for (let s = scope; s; s = s.parent) {
      const defs = locals.get(s.graph)!
      if (defs.has(name)) return defs.get(name) ?? null
    }
    return null
  }
  // the graph whose definition of `name` a node in `scope` reads (null: defined nowhere)
  const definedIn = (scope: GraphScope, name: string): GraphProto | null => {
    for (let s: GraphScope | null = scope; s; s = s.parent) if (locals.get(s.graph)!.has(name)) return s.graph
    return null
  }
  // Uses of the outputs of layout ops (a weight reaching its op through them).
  const viaUses = new Map<NodeProto, { node: NodeProto; inputIndex: number }[]>()
  // every definition's readers, to find the ops a weight reaches where its path is not followed
  const readers = new Map<GraphProto, Map<string, Reader[]>>()
  const sites = new Map<WeightDefinition, WeightSite>()
  const training = trainingNames(model)
  // what each graph hands out (a subgraph's output may name an outer tensor)
  const outputs = new Set<WeightDefinition>()
  const outputNames = new Set<string>()
  for (const scope of scopes) {
    for (const o of scope.graph.output ?? []) {
      if (!o.name) continue
      outputNames.add(o.name)
      const def = resolve(scope, o.name)
      if (def) outputs.add(def)
    }
  }
  for (const scope of scopes) {
    for (const node of scope.graph.node ?? []) {
      ;(node.input ?? []).forEach((name, inputIndex) => {
        if (!name) return
        const home = definedIn(scope, name)
        if (home) {
          let byName = readers.get(home)
          if (!byName) readers.set(home, (byName = new Map()))
          const list = byName.get(name)
          if (list) list.push({ node, inputIndex, graph: scope.graph })
          else byName.set(name, [{ node, inputIndex, graph: scope.graph }])
        }
        const via = home ? producers.get(home)!.get(name) : undefined
        if (via) {
          const list = viaUses.get(via)
          if (list) list.push({ node, inputIndex })
          else viaUses.set(via, [{ node, inputIndex }])
        }
        const def = resolve(scope, name)
        if (!def || !isFloatType(def.tensor.data_type)) return
        let site = sites.get(def)
        if (!site) {
          const exposed = outputs.has(def) ? 'a graph output' : overridable.has(def) ? 'an overridable graph input'
            : def.graph === model.graph && training.has(name) ? 'bound or read by training_info' : null
          site = { name, definition: def, dims: tensorDims(def.tensor), uses: [], otherUses: [], exposed, unfollowed: [], redefined: false }
          sites.set(def, site)
        }
        const weightInputs = node.domain ? undefined : WEIGHT_OPS[node.op_type ?? '']
        const axis = weightInputs?.includes(inputIndex) ? channelAxisFor(node, site.dims.length, inputIndex) : null
        if (axis !== null) site.uses.push({ node, inputIndex, channelAxis: axis, reordered: false })
        else site.otherUses.push(node)
      })
    }
  }
  const redefined = new Map<GraphScope, Set<string>>()
  for (const site of sites.values()) {
    const home = site.definition.scope
    let names = redefined.get(home)
    if (!names) {
      const enclosing: GraphProto[] = []
      for (let p = home.parent; p; p = p.parent) enclosing.push(p.graph)
      redefined.set(home, (names = redefinedNames(home.graph, enclosing)))
    }
    site.redefined = names.has(site.name)
  }
  for (const site of sites.values()) followReshapes(site, viaUses, resolve, outputNames)
  for (const site of sites.values()) if (site.uses.length === 0) site.unfollowed = weightOpsReached(site, readers)
  return [...sites.values()].filter((s) => s.uses.length > 0 || s.unfollowed.length > 0)
}


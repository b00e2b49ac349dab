import type { ModelProto } from './onnx-types.js'
import { overridableInitializers } from './overridable-initializers.js'

/** Why a constant must keep its float name and value: something outside the graph's nodes sees it. */
export type Exposure = 'a graph output' | 'an overridable graph input' | 'bound or read by training_info'

/** The main-graph names training_info binds or whose graphs read (more than it needs: a local name read there too). */
export function trainingNames(model: ModelProto): Set<string> {
  const names = new Set<string>()
  for (const info of model.training_info ?? []) {
    for (const b of [...(info.update_binding ?? []), ...(info.initialization_binding ?? [])]) if (b.key) names.add(b.key)
    for (const g of [info.algorithm, info.initialization]) for (const n of g?.node ?? []) for (const i of n.input ?? []) if (i) names.add(i)
  }
  return names
}

/**
 * The main graph's names that a rewrite must not replace or rename, with the reason: its graph
 * outputs (a caller reads them), its overridable initializers (a caller may feed them) and what
 * training_info names (its bindings must keep naming float initializers). Constants among them
 * stay float; other names in the map are harmless to a caller that only asks about constants.
 */
export function exposedNames(model: ModelProto): Map<string, Exposure> {
  const exposed = new Map<string, Exposure>()
  const graph = model.graph
  if (!graph) return exposed
  for (const o of graph.output ?? []) if (o.name) exposed.set(o.name, 'a graph output')
  for (const name of overridableInitializers(model, graph)) if (!exposed.has(name)) exposed.set(name, 'an overridable graph input')
  for (const name of trainingNames(model)) if (!exposed.has(name)) exposed.set(name, 'bound or read by training_info')
  return exposed
}

import { keyLocation, type QuantConfig } from '../cfg/index.js'
import { nearestNames } from '../cfg/nearest-name.js'
import { allGraphScopes } from '../onnx/graph-walk.js'
import type { ModelProto } from '../onnx/onnx-types.js'

/** Unmatched names warned about one by one, with suggestions; the rest are counted in one line. */
const NAMED = 10

/**
 * A warning for each of the cfg's `skip_quant_node` names no node of the model (subgraphs
 * included) carries, with the closest node names, at the key's place in the cfg (`model.cfg:3`).
 * A list pasted from another model would otherwise cost a search of every node name per entry
 * and a screen of text.
 */
export function unmatchedSkipWarnings(model: ModelProto, cfg: QuantConfig): string[] {
  const where = keyLocation(cfg, 'skip_quant_node')
  const nodeNames = new Set<string>()
  for (const { graph } of allGraphScopes(model)) for (const n of graph.node ?? []) if (n.name) nodeNames.add(n.name)
  const unmatched = [...new Set(cfg.skipQuantNode)].filter((name) => !nodeNames.has(name))
  const warnings = unmatched.slice(0, NAMED).map((name) => {
    const near = nearestNames(name, nodeNames)
    return `${where}: skip_quant_node: no node is named '${name}'${near.length ? `; did you mean ${near.map((n) => `'${n}'`).join(', ')}?` : ''}`
  })
  if (unmatched.length > NAMED) warnings.push(`${where}: skip_quant_node: ${unmatched.length - NAMED} more names match no node (${unmatched.length} in all)`)
  return warnings
}

// Arithmetic that changes nothing: x * 1, x / 1, x + 0, x - 0 with a one-element constant that
// does not broadcast x to a higher rank. Paddle exports swish as x * Sigmoid(x * 1); in a QDQ
// graph that Mul would be a quantized hop of its own.
import type { NodeProto } from '../../onnx/onnx-types.js'
import type { GraphIndex } from './graph-index.js'

export interface IdentityCounts {
  removed: NodeProto[]
}

const NEUTRAL: Record<string, { value: number; constantFirst: boolean }> = {
  Mul: { value: 1, constantFirst: true },
  Div: { value: 1, constantFirst: false },
  Add: { value: 0, constantFirst: true },
  Sub: { value: 0, constantFirst: false },
}

export function removeIdentityArithmetic(index: GraphIndex): IdentityCounts {
  const counts: IdentityCounts = { removed: [] }
  const rename = new Map<string, string>()
  for (const node of index.graph.node ?? []) {
    const rule = node.domain ? undefined : NEUTRAL[node.op_type ?? '']
    const ins = node.input ?? []
    const out = node.output?.[0]
    if (!rule || ins.length !== 2 || node.output?.length !== 1 || !out || index.graphOutputs.has(out)) continue
    for (const at of rule.constantFirst ? [0, 1] : [0]) {
      const x = ins[at]!
      const c = index.floatConstant(ins[1 - at]!)
      if (!c || c.values.length !== 1 || c.values[0] !== rule.value) continue
      if (c.dims.length > 0 && (index.rankOf(x) ?? -1) < c.dims.length) continue
      // only readers that name the tensor directly (not from inside a subgraph) can be rewired
      if (!index.consumers(out).every((r) => r.input?.includes(out))) continue
      rename.set(out, x)
      counts.removed.push(node)
      break
    }
  }
  if (rename.size === 0) return counts
  const resolve = (name: string): string => {
    let n = name
    while (rename.has(n)) n = rename.get(n)!
    return n
  }
  for (const node of index.graph.node ?? []) node.input = (node.input ?? []).map((n) => (n ? resolve(n) : n))
  return counts
}

import { allGraphScopes, attr } from '../onnx/graph-walk.js'
import { int64ToNumber, type ModelProto, type NodeProto } from '../onnx/onnx-types.js'
import { WEIGHT_OPS } from './weight-ops.js'
import type { SkippedWeight } from './weight-quant.js'

/**
 * Weight inputs of quantizable ops that the weight sites never see: a sparse initializer (kept
 * sparse, as stored) and a Constant inside a model-local function (function bodies are left as
 * they are). Both stay float; listed so that the report names them instead of leaving them out,
 * and counts their nodes as skipped.
 */
export function unreachedWeights(model: ModelProto): SkippedWeight[] {
  const out: SkippedWeight[] = []
  for (const { graph } of allGraphScopes(model)) {
    const sparse = new Map<string, number[]>()
    for (const s of graph.sparse_initializer ?? []) if (s.values?.name) sparse.set(s.values.name, (s.dims ?? []).map(int64ToNumber))
    if (sparse.size) out.push(...weightReads(graph.node ?? [], sparse, 'a sparse initializer'))
  }
  for (const fn of model.functions ?? []) {
    const constants = new Map<string, number[]>()
    for (const n of fn.node ?? []) {
      const value = n.op_type === 'Constant' && !n.domain ? attr(n, 'value')?.t : undefined
      if (value && n.output?.[0]) constants.set(n.output[0], (value.dims ?? []).map(int64ToNumber))
    }
    if (constants.size) out.push(...weightReads(fn.node ?? [], constants, 'inside a model-local function'))
  }
  return out
}

/** One entry per tensor of `tensors` read at a weight input of a quantizable op among `nodes`. */
function weightReads(nodes: readonly NodeProto[], tensors: ReadonlyMap<string, number[]>, reason: SkippedWeight['reason']): SkippedWeight[] {
  const readers = new Map<string, NodeProto[]>()
  for (const n of nodes) {
    for (const i of WEIGHT_OPS[n.op_type ?? ''] ?? []) {
      const name = n.input?.[i]
      if (!name || !tensors.has(name)) continue
      const list = readers.get(name)
      if (list) list.push(n)
      else readers.set(name, [n])
    }
  }
  return [...readers].map(([tensor, list]) => ({ nodes: list.map((n) => ({ name: n.name ?? '', opType: n.op_type ?? '' })), tensor, dims: tensors.get(tensor)!, reason }))
}

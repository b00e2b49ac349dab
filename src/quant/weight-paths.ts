import { attr, type GraphScope } from '../onnx/graph-walk.js'
import { DataType, int64ToNumber, type GraphProto, type NodeProto, type TensorProto } from '../onnx/onnx-types.js'
import { channelAxisFor, isFloatType, WEIGHT_OPS } from './weight-ops.js'
import type { WeightDefinition, WeightSite, WeightUse } from './weight-site-types.js'

// How a weight reaches its op through layout ops (Identity, float Casts, reshapes), for
// findWeightSites: the paths it follows, and the ops reached through paths it does not.

/** A node reading a name, with the graph the node is in (where its outputs are defined). */
export interface Reader { node: NodeProto; inputIndex: number; graph: GraphProto }
/** Readers of each definition: by the graph defining the name, then by name. */
export type Readers = ReadonlyMap<GraphProto, ReadonlyMap<string, readonly Reader[]>>

/** Weight inputs of ops that the site reaches through layout ops (and float Casts) only. */
export function weightOpsReached(site: WeightSite, readers: Readers): NodeProto[] {
  const found = new Set<NodeProto>()
  const start = { graph: site.definition.graph, name: site.name }
  const seen = new Set<NodeProto>()
  const queue = [start]
  while (queue.length) {
    const { graph, name } = queue.shift()!
    for (const r of readers.get(graph)?.get(name) ?? []) {
      if (r.node.domain) continue
      if (WEIGHT_OPS[r.node.op_type ?? '']?.includes(r.inputIndex)) found.add(r.node)
      else if (isLayoutOp(r.node) && !seen.has(r.node)) {
        seen.add(r.node)
        for (const out of r.node.output ?? []) if (out) queue.push({ graph: r.graph, name: out })
      }
    }
  }
  return [...found]
}

/** Layout ops a weight may pass through on its way to its op (all constant-folded by runtimes). */
const RESHAPING_OPS = new Set(['Identity', 'Unsqueeze', 'Squeeze', 'Reshape', 'Flatten', 'Transpose', 'Slice', 'Concat'])

/** A Cast between float types passes values on in the same layout, as Identity does (float16 weights cast to float32 at load). */
function isFloatCast(node: NodeProto): boolean {
  return node.op_type === 'Cast' && !node.domain && isFloatType(int64ToNumber(attr(node, 'to')?.i))
}

/** Whether a weight may pass through `node` on its way to its op. */
export function isLayoutOp(node: NodeProto): boolean {
  return (!node.domain && RESHAPING_OPS.has(node.op_type ?? '')) || isFloatCast(node)
}

/** Keeps the weight's dims and element order: the op's channel axis is the stored one. */
function keepsLayout(node: NodeProto): boolean {
  return node.op_type === 'Identity' || isFloatCast(node)
}

/**
 * Only ops whose thresholds do not read the weight's own dims (Conv's channel count does) and
 * whose channel axis survives any reshape as the stored axis 0. Other weight ops (Conv,
 * ConvTranspose, Gather) count only through Identity nodes and float Casts, which keep dims and
 * layout: PyTorch and tf2onnx exports route shared or renamed parameters through Identity, and
 * float16-stored weights reach float32 ops through Cast.
 */
const REACHABLE_THROUGH_RESHAPE = new Set(['MatMul', 'Gemm', 'LSTM', 'GRU', 'RNN'])

/**
 * Exporters sometimes route a weight through layout ops before its op: silero VAD v5 slices and
 * re-concatenates its LSTM weights to reorder the gates. When every path from the weight ends in
 * a weight input of a matmul-like or recurrent op, those ops count as its uses. Through Identity,
 * float Casts and Unsqueeze alone the op's channel axis maps back exactly; through anything else the weight
 * is quantized per row of its stored layout (axis 0: the output axis of PyTorch's [out, in]).
 */
export function followReshapes(
  site: WeightSite,
  viaUses: Map<NodeProto, { node: NodeProto; inputIndex: number }[]>,
  resolve: (scope: GraphScope | null, name: string) => WeightDefinition | null,
  outputNames: ReadonlySet<string>,
): void {
  if (site.otherUses.length === 0 || !site.otherUses.every(isLayoutOp)) return
  const found: WeightUse[] = []
  let exact = true
  let layoutKept = true
  let needsLayoutKept = false
  let inserted: number[] = []
  const seen = new Set<NodeProto>()
  const queue = [...site.otherUses]
  while (queue.length) {
    const via = queue.shift()!
    if (seen.has(via)) continue
    seen.add(via)
    if (via.op_type === 'Unsqueeze' && (via.input ?? [])[0] === site.name) {
      const axes = unsqueezeAxes(via, site.dims.length, site.definition.scope, resolve)
      if (axes) inserted = axes
      else exact = false
    } else if (!keepsLayout(via)) exact = false
    if (!keepsLayout(via)) layoutKept = false
    // a reshaped weight handed out as a graph output: its readers would see the rounding
    if ((via.output ?? []).some((o) => outputNames.has(o))) {
      site.exposed ??= 'a graph output'
      return
    }
    const readers = viaUses.get(via) ?? []
    if (readers.length === 0) return
    for (const r of readers) {
      if (isLayoutOp(r.node)) {
        queue.push(r.node)
        continue
      }
      const weightInputs = r.node.domain ? undefined : WEIGHT_OPS[r.node.op_type ?? '']
      if (!weightInputs?.includes(r.inputIndex)) return
      if (!REACHABLE_THROUGH_RESHAPE.has(r.node.op_type ?? '')) {
        if (!layoutKept) return
        needsLayoutKept = true
      }
      found.push({ node: r.node, inputIndex: r.inputIndex, channelAxis: -1, reordered: true })
    }
  }
  if (needsLayoutKept && !layoutKept) return
  for (const use of found) {
    const outAxis = exact ? channelAxisFor(use.node, site.dims.length + inserted.length, use.inputIndex) : null
    use.channelAxis = outAxis !== null && !inserted.includes(outAxis) ? outAxis - inserted.filter((x) => x < outAxis).length : 0
    use.reordered = !exact
  }
  site.uses.push(...found)
  site.otherUses = []
}

/** The output axes an Unsqueeze inserts (attribute before opset 13, constant input after); null if unknown. */
function unsqueezeAxes(node: NodeProto, inRank: number, scope: GraphScope, resolve: (scope: GraphScope | null, name: string) => WeightDefinition | null): number[] | null {
  let axes: number[] | null = null
  const a = attr(node, 'axes')
  if (a?.ints?.length) axes = a.ints.map(int64ToNumber)
  else if (node.input?.[1]) {
    const def = resolve(scope, node.input[1])
    if (def) axes = int64Values(def.tensor)
  }
  if (!axes) return null
  const outRank = inRank + axes.length
  return axes.map((x) => (x < 0 ? x + outRank : x)).sort((x, y) => x - y)
}

function int64Values(t: TensorProto): number[] | null {
  if (t.data_type !== DataType.INT64) return null
  if (t.int64_data?.length) return t.int64_data.map(int64ToNumber)
  const raw = t.raw_data
  if (!raw || raw.byteLength % 8 !== 0) return null
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
  return Array.from({ length: raw.byteLength / 8 }, (_, i) => Number(dv.getBigInt64(i * 8, true)))
}

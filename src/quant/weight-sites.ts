import { allGraphScopes, attr, definitionCounts, type GraphScope } from '../onnx/graph-walk.js'
import { DataType, int64ToNumber, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/onnx-types.js'
import { trainingNames, type Exposure } from '../onnx/exposed-constants.js'
import { overridableInitializers } from '../onnx/overridable-initializers.js'
import { tensorDims } from '../onnx/tensor-data.js'

/** Where a constant tensor is defined: a graph initializer or a `Constant` node's `value`. */
export type WeightDefinition =
  | { kind: 'initializer'; graph: GraphProto; scope: GraphScope; tensor: TensorProto }
  | { kind: 'constant'; graph: GraphProto; scope: GraphScope; tensor: TensorProto; node: NodeProto }

export interface WeightUse {
  node: NodeProto
  inputIndex: number
  /** The axis whose slices get their own scale: the op's output-channel axis for this weight. */
  channelAxis: number
  /**
   * The op reads the weight through layout ops that may move its elements (Transpose, Reshape,
   * Slice, Concat, Squeeze), so the op's [K, N] or [out, in, ...] view is not the stored layout:
   * anything that indexes the stored values as the op's operand (bias correction, error
   * feedback) must leave such a weight alone. False for direct reads and Identity/Cast/Unsqueeze paths.
   */
  reordered: boolean
}

export interface WeightSite {
  name: string
  definition: WeightDefinition
  dims: number[]
  uses: WeightUse[]
  /** Uses by ops or inputs that are not a weight role; such tensors stay float. */
  otherUses: NodeProto[]
  /**
   * Seen from outside the graph, directly or through layout ops: a graph output, (IR >= 4) an
   * initializer also listed as a graph input, which a caller may feed, or an initializer that
   * training_info updates or reads (its bindings must name initializers). Such tensors stay float.
   */
  exposed: Exposure | null
  /**
   * With no use: weight inputs of ops the tensor still reaches, through ops not followed (a
   * reshape into a Conv, a Transpose into a Gather, layout ops mixed with others). It stays
   * float, and the report says so rather than leaving it out.
   */
  unfollowed: NodeProto[]
  /**
   * The name has another definition in the weight's graph, a graph around it or a subgraph inside
   * it (a second initializer or Constant of that name, a subgraph's own tensor shadowing it):
   * onnxruntime keeps one of them when the weight is an initializer, but rejects the model once
   * the weight becomes a decode node's output. Such tensors stay float. Sibling subgraphs (the
   * two branches of an If) may each define the name: neither sees the other's.
   */
  redefined: boolean
}

/** Op types whose constant weight inputs are quantized, and which inputs those are. */
export const WEIGHT_OPS: Record<string, readonly number[]> = {
  // MatMul's first input too: a constant on the left (W @ x, as in a mel filterbank) is a weight
  // whose rows are the output rows
  Conv: [1], ConvTranspose: [1], MatMul: [0, 1], Gemm: [1], Gather: [0],
  // Our extension beyond the format's list: recurrent weights W and R ([dirs, gates*hidden, in]).
  // They hold most of silero VAD's bytes, and the decode folds at load like any other weight.
  LSTM: [1, 2], GRU: [1, 2], RNN: [1, 2],
}

function channelAxisFor(node: NodeProto, rank: number, inputIndex: number): number | null {
  switch (node.op_type) {
    case 'Conv': return 0
    case 'ConvTranspose': return 1
    case 'MatMul': return inputIndex === 0 ? rank - 2 : rank - 1
    case 'Gemm': return int64ToNumber(attr(node, 'transB')?.i) ? 0 : 1
    case 'LSTM':
    case 'GRU':
    case 'RNN':
      return 1
    case 'Gather': {
      const axis = int64ToNumber(attr(node, 'axis')?.i)
      return axis < 0 ? axis + rank : axis
    }
    default: return null
  }
}

function isFloat(t: TensorProto): boolean {
  const type = t.data_type ?? 0
  return type === DataType.FLOAT || type === DataType.FLOAT16 || type === DataType.DOUBLE || type === DataType.BFLOAT16
}

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
        if (via) viaUses.set(via, [...(viaUses.get(via) ?? []), { node, inputIndex }])
        const def = resolve(scope, name)
        if (!def || !isFloat(def.tensor)) return
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
  const definitions = new Map(scopes.map((scope) => [scope.graph, definitionCounts(scope.graph)]))
  for (const site of sites.values()) site.redefined = redefined(site, scopes, definitions)
  for (const site of sites.values()) followReshapes(site, viaUses, resolve, outputNames)
  for (const site of sites.values()) if (site.uses.length === 0) site.unfollowed = weightOpsReached(site, readers)
  return [...sites.values()].filter((s) => s.uses.length > 0 || s.unfollowed.length > 0)
}

/** A node reading a name, with the graph the node is in (where its outputs are defined). */
interface Reader { node: NodeProto; inputIndex: number; graph: GraphProto }
/** Readers of each definition: by the graph defining the name, then by name. */
type Readers = ReadonlyMap<GraphProto, ReadonlyMap<string, readonly Reader[]>>

/** Weight inputs of ops that the site reaches through layout ops (and float Casts) only. */
function weightOpsReached(site: WeightSite, readers: Readers): NodeProto[] {
  const found = new Set<NodeProto>()
  const start = { graph: site.definition.graph, name: site.name }
  const seen = new Set<Reader['node']>()
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

/** Whether the site's name is defined again in its graph, a graph enclosing it, or a subgraph within it. */
function redefined(site: WeightSite, scopes: readonly GraphScope[], counts: ReadonlyMap<GraphProto, ReadonlyMap<string, number>>): boolean {
  const home = site.definition.scope
  const here = (scope: GraphScope) => counts.get(scope.graph)?.get(site.name) ?? 0
  if (here(home) > 1) return true
  for (let s = home.parent; s; s = s.parent) if (here(s) > 0) return true
  const within = (scope: GraphScope) => {
    for (let s = scope.parent; s; s = s.parent) if (s === home) return true
    return false
  }
  return scopes.some((scope) => here(scope) > 0 && within(scope))
}

/** Layout ops a weight may pass through on its way to its op (all constant-folded by runtimes). */
const RESHAPING_OPS = new Set(['Identity', 'Unsqueeze', 'Squeeze', 'Reshape', 'Flatten', 'Transpose', 'Slice', 'Concat'])

const FLOAT_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16])

/** A Cast between float types passes values on in the same layout, as Identity does (float16 weights cast to float32 at load). */
function isFloatCast(node: NodeProto): boolean {
  return node.op_type === 'Cast' && !node.domain && FLOAT_TYPES.has(int64ToNumber(attr(node, 'to')?.i))
}

/** Whether a weight may pass through `node` on its way to its op. */
function isLayoutOp(node: NodeProto): boolean {
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
function followReshapes(
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

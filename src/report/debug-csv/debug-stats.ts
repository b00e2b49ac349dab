import { decodeModelProto } from '../../onnx/codec.js'
import type { ModelProto, NodeProto } from '../../onnx/onnx-types.js'
import { cosineSimilarity } from '../../runtime/cosine.js'
import type { Feeds } from '../../runtime/feeds.js'
import { dequantParams, gridClipShare, type DequantParams } from './dequant-params.js'
import { ExposedRunner, type TensorValues } from './exposed-values.js'
import { clipShare, histogram, tensorStats, type TensorStats } from './tensor-stats.js'

export type InOutFlag = 'Input' | 'Output'
export type DataTypeFlag = 'Origin' | 'Dequant'
export type TensorTypeFlag = 'Activation' | 'Weight'

/** One line of report_<round>.csv. */
export interface DebugRow {
  nodeName: string
  nodeType: string
  tensorName: string
  inOut: InOutFlag
  dataType: DataTypeFlag
  tensorType: TensorTypeFlag
  stats: TensorStats
  /**
   * Origin rows: 0. Dequant rows of quantized tensors: share of the original values outside the
   * dequantized range; 0 for tensors the quantized model computes in float (nothing cuts them).
   */
  clip: number
  /**
   * Not a CSV column (the recommendations read it). Dequant rows of a tensor a DequantizeLinear
   * gives: share of the original values outside its quantization grid, [scale * (qmin - zp),
   * scale * (qmax - zp)] per channel (what saturation cuts; Clip also counts values rounded in
   * from the grid's ends); 0 otherwise.
   */
  gridClip: number
  /** Origin rows: 1. Dequant rows: cosine of the dequantized vs the original values. */
  cosine: number
}

/** A node input the quantized model reads through a DequantizeLinear: a quant_param.csv entry. */
export interface DequantInput {
  /** Index in DebugStats.nodes. */
  node: number
  /** Input position. */
  index: number
  tensor: string
  /** The tensor's dims (an activation's in round 0). */
  dims: number[]
  params: DequantParams
}

export interface OutputCosine {
  tensor: string
  cosine: number
}

/** One calibration round: one input sample through the float and the quantized model. */
export interface DebugRound {
  round: number
  rows: DebugRow[]
  outputs: OutputCosine[]
}

/** Original vs dequantized values of one tensor on round 0, binned over their joint range. */
export interface TensorHistogram {
  tensor: string
  lo: number
  hi: number
  origin: number[]
  dequant: number[]
}

export interface DebugNode {
  name: string
  opType: string
  inputs: string[]
  outputs: string[]
}

export interface DebugStats {
  rounds: DebugRound[]
  /** Per tensor that both models have (round 0). */
  histograms: Map<string, TensorHistogram>
  /** The float model's main-graph nodes in order (Constant nodes left out: their outputs are weights). */
  nodes: DebugNode[]
  weights: Set<string>
  /** Tensors the quantized model stores or carries quantized (Clip applies to them only). */
  quantized: Set<string>
  /**
   * Quantized tensors whose every reader is a Relu: a FULL_QUANT graph gives them the Relu's
   * range [0, max], so they are compared as the Relu sees them (both sides through max(0, x)):
   * the negatives it cuts are not quantization error.
   */
  reluRead: Set<string>
  modelOutputs: string[]
  /** Inputs of nodes that compute in integers (see runsQuantized) read through a DequantizeLinear, in graph order. */
  dequantInputs: DequantInput[]
}

export interface DebugStatsOptions {
  /** Bins per histogram. @default 48 */
  bins?: number
  /**
   * Compute the quartiles (two more passes over each tensor, src/calibrate/quantile.ts); off,
   * they are NaN, for callers that need only cosines and ranges (the accuracy guard's ranking).
   * @default true
   */
  quantiles?: boolean
  /** Bin every tensor of round 0 for the report's histograms. @default true */
  histograms?: boolean
  /** Tensors exposed by one session pair (see BATCH_NAMES). @default 256 */
  batchNames?: number
  /**
   * Tensors of the float model that the user's model has under another name (FULL_QUANT's
   * folded weights, ModeResult.originalNames): rows and the summary use that name.
   */
  originalNames?: ReadonlyMap<string, string>
  /** Quantized weights the quantized model holds as float nowhere, decoded (ModeResult.decodedWeights). */
  decodedWeights?: ReadonlyMap<string, () => Float32Array>
  /**
   * The nodes the quantization made compute in integers (FULL_QUANT's quantizedNodes): their
   * inputs read through a DequantizeLinear are DebugStats.dequantInputs. Without it, nodes are
   * judged from the graph (runsQuantized).
   */
  int8Nodes?: ReadonlySet<string>
}

/**
 * The format's debug statistics: every float tensor of the float model's main graph (node
 * inputs and outputs, weights included), before quantization (Origin) and as the quantized
 * model computes it (Dequant), matched by name. Quantized graphs keep tensor names: a weight's
 * name is its decode chain's output, a QDQ activation's name its DequantizeLinear output. A node
 * input its quantized twin reads under another name is compared with that (see twinNodes).
 * `floatModel` is the model the quantized one was made from (FULL_QUANT: the folded one).
 */
export async function collectDebugStats(floatModel: Uint8Array, quantModel: Uint8Array, samples: readonly Feeds[], options: DebugStatsOptions = {}): Promise<DebugStats> {
  const bins = options.bins ?? 48
  // decoded once: the nodes are read here, and the runners below leave the proto as it is
  const floatProto = ExposedRunner.decode(floatModel)
  const graph = floatProto.graph
  if (!graph) throw new Error('model has no graph')
  const display = (t: string) => options.originalNames?.get(t) ?? t
  const decoded = new Map([...(options.decodedWeights ?? [])].map(([name, decode]) => [name, decode()]))
  const weights = new Set<string>()
  for (const t of graph.initializer ?? []) if (t.name) weights.add(t.name)
  const nodes: DebugNode[] = []
  const protos: NodeProto[] = []
  for (const n of graph.node ?? []) {
    if (n.op_type === 'Constant') {
      for (const o of n.output ?? []) if (o) weights.add(o)
      continue
    }
    nodes.push({ name: n.name ?? '', opType: n.op_type ?? '', inputs: (n.input ?? []).filter(Boolean), outputs: (n.output ?? []).filter(Boolean) })
    protos.push(n)
  }
  const modelOutputs = (graph.output ?? []).map((o) => o.name ?? '').filter(Boolean)
  const names = [...new Set([...nodes.flatMap((n) => [...n.inputs, ...n.outputs]), ...modelOutputs])]
  const quantProto = decodeModelProto(quantModel)
  // What each node's quantized twin reads in place of each input: a quantized graph input's
  // `<input>_dq`, a shared weight's `<weight>_dequantized`. Compared by name alone, the input
  // would be compared with itself (cosine 1, Clip 0) and its rounding would not show.
  const twins = twinNodes(protos, quantProto)
  const readAs = protos.map((p, i) => inputsAsRead(p, twins[i]))
  const aliases = new Map<string, string[]>()
  readAs.forEach((list, i) => nodes[i]!.inputs.forEach((t, k) => {
    const q = list?.[k]
    if (q && q !== t && !aliases.get(t)?.includes(q)) aliases.set(t, [...(aliases.get(t) ?? []), q])
  }))
  const grids = dequantParams(quantProto)
  const quantized = quantizedTensors(quantProto, weights)
  for (const t of decoded.keys()) quantized.add(t)
  const readers = new Map<string, string[]>()
  for (const n of nodes) for (const i of n.inputs) readers.set(i, [...(readers.get(i) ?? []), n.opType])
  const readQuantized = (t: string) => quantized.has(t) || (aliases.get(t) ?? []).some((q) => quantized.has(q))
  const reluRead = new Set(names.filter((t) => readQuantized(t) && !modelOutputs.includes(t) && (readers.get(t) ?? []).length > 0 && readers.get(t)!.every((op) => op === 'Relu')))
  const histograms = new Map<string, TensorHistogram>()
  const dims = new Map<string, number[]>()
  // Every tensor of both models exposed at once were all alive together, in onnxruntime and
  // again in JavaScript (PP-OCRv4 det, one 320x320 sample: 164 MB of tensors per model, 620 MB
  // over the baseline at the peak). Exposed in interleaved batches, a session pair each, only
  // one batch's tensors live at a time: onnxruntime computes every exposed output of a session
  // whichever ones a run fetches, so smaller fetches of one session would not do. One pair is
  // alive at a time and runs every round, so that a heavy model's weights are held twice, not
  // twice per batch.
  const batches = interleaved(names, Math.ceil(names.length / Math.max(1, options.batchNames ?? BATCH_NAMES)))
  const figures: Figures[] = samples.map((): Figures => new Map())
  const quantRunProto = ExposedRunner.decode(quantModel, true)
  const context: CompareContext = { quantized, reluRead, aliases, decoded, grids, quantiles: options.quantiles !== false }
  for (const batch of batches) {
    const runners: ExposedRunner[] = []
    try {
      const origin = await ExposedRunner.forModel(floatProto, batch)
      runners.push(origin)
      const dequant = await ExposedRunner.forModel(quantRunProto, [...batch, ...batch.flatMap((t) => aliases.get(t) ?? [])])
      runners.push(dequant)
      for (const [round, feeds] of samples.entries()) {
        const a = await origin.run(feeds)
        const b = await dequant.run(feeds)
        addFigures(figures[round]!, a, b, context)
        if (round !== 0) continue
        for (const [name, va] of a) dims.set(name, va.dims)
        if (options.histograms === false) continue
        for (const [name, va] of a) {
          // what the quantized readers see, when they read it under another name
          for (const q of [name, ...(aliases.get(name) ?? [])]) {
            const known = figures[0]!.get(pairKey(name, q))
            const vb = q === name ? decoded.get(name) ?? b.get(q)?.data : b.get(q)?.data
            // addFigures compared the two exactly when they have the same length
            if (vb && known?.dequant) histograms.set(display(name), { ...jointHistogram(name, va.data, vb, bins, { ...known, dequant: known.dequant }), tensor: display(name) })
          }
        }
      }
    } finally {
      // every session is released, and a failed release does not hide the run's own error
      await Promise.allSettled(runners.map((r) => r.release()))
    }
  }
  const rounds = figures.map((f, round) => roundRows(round, nodes, readAs, weights, modelOutputs, f, display))
  const dequantInputs: DequantInput[] = []
  const quantizerInputs = new Set((quantProto.graph?.node ?? []).filter((n) => n.op_type === 'QuantizeLinear').map((n) => n.input?.[0] ?? ''))
  const int8 = (i: number) => (options.int8Nodes ? twins[i] !== undefined && options.int8Nodes.has(nodes[i]!.name) : runsQuantized(twins[i], quantizerInputs, grids))
  nodes.forEach((n, i) => int8(i) && n.inputs.forEach((t, index) => {
    const params = grids.get(readAs[i]?.[index] ?? t)
    if (params) dequantInputs.push({ node: i, index, tensor: display(t), dims: params.constDims ?? dims.get(t) ?? [], params })
  }))
  // the summary reads names as the rows give them; a tensor read quantized under another name is quantized
  const shown = (set: Set<string>) => new Set([...set].map(display))
  const quantizedShown = shown(quantized)
  for (const t of aliases.keys()) if (readQuantized(t)) quantizedShown.add(display(t))
  return {
    rounds,
    histograms,
    nodes: nodes.map((n) => ({ ...n, inputs: n.inputs.map(display), outputs: n.outputs.map(display) })),
    weights: shown(weights),
    quantized: quantizedShown,
    reluRead: shown(reluRead),
    modelOutputs,
    dequantInputs,
  }
}

/** Figures of a float tensor as compared with the quantized model's `quant` (itself or what a node reads instead). */
const pairKey = (float: string, quant: string): string => (float === quant ? float : `${float}\u0000${quant}`)

/**
 * Each node's twin in the quantized model (by NodeProto of the float model): the node of the same
 * name and type, or for an unnamed node the one writing its first output; undefined when there is
 * none (DYNAMIC_QUANT replaces MatMul by MatMulInteger and friends).
 */
function twinNodes(protos: readonly NodeProto[], quant: ModelProto): (NodeProto | undefined)[] {
  const qnodes = quant.graph?.node ?? []
  const byName = new Map<string, NodeProto>()
  const byOutput = new Map<string, NodeProto>()
  // a quantized op writes `<t>_f32` into QuantizeLinear → DequantizeLinear, which gives `t` back
  const quantizedTo = new Map<string, string>()
  const dequantizedTo = new Map<string, string>()
  for (const n of qnodes) {
    if (n.op_type === 'QuantizeLinear' && n.input?.[0] && n.output?.[0]) quantizedTo.set(n.input[0], n.output[0])
    if (n.op_type === 'DequantizeLinear' && n.input?.[0] && n.output?.[0]) dequantizedTo.set(n.input[0], n.output[0])
  }
  for (const n of qnodes) {
    if (n.name) byName.set(n.name, n)
    const o = n.output?.[0]
    if (o) byOutput.set(dequantizedTo.get(quantizedTo.get(o) ?? '') ?? o, n)
  }
  return protos.map((p) => {
    const twin = p.name ? byName.get(p.name) : byOutput.get(p.output?.[0] ?? '')
    return twin && twin.op_type === p.op_type && (twin.input ?? []).length === (p.input ?? []).length ? twin : undefined
  })
}

/** The names a node's twin reads at each of the node's non-empty inputs. */
function inputsAsRead(p: NodeProto, twin: NodeProto | undefined): string[] | undefined {
  if (!twin) return undefined
  const ins = twin.input ?? []
  return (p.input ?? []).flatMap((t, k) => (t ? [ins[k] || t] : []))
}

/**
 * Whether a node's twin computes in integers, as onnxruntime fuses QDQ: it reads a quantized
 * constant (weight, bias) or its output goes into a QuantizeLinear. A float op that reads a
 * DequantizeLinear output (a node kept float next to quantized ones) does not.
 */
function runsQuantized(twin: NodeProto | undefined, quantizerInputs: ReadonlySet<string>, grids: ReadonlyMap<string, DequantParams>): boolean {
  if (!twin) return false
  return (twin.output ?? []).some((o) => quantizerInputs.has(o)) || (twin.input ?? []).some((i) => grids.get(i)?.constDims)
}

/**
 * Tensors exposed by one session pair. PP-OCRv4 det has 673 (3 batches): a process that
 * quantizes it and then collects the statistics of one 320x320 sample peaked at 507-547 MB
 * instead of 721 MB, in 2.3-3.8 s either way (a shared machine); PP-OCR cls (472) takes 2
 * batches, the silero models one.
 */
const BATCH_NAMES = 256

/** `names` dealt into `count` batches in turn, so that each gets early (large) and late tensors alike. */
function interleaved(names: readonly string[], count: number): string[][] {
  const out = Array.from({ length: Math.max(1, count) }, (): string[] => [])
  names.forEach((n, i) => out[i % out.length]!.push(n))
  return out
}

/**
 * Which tensors have a quantized range, read from the quantized graph: DequantizeLinear outputs
 * (QDQ activations and weights) and float weights that a node now computes (a weight's decode
 * chain keeps the weight's name).
 */
function quantizedTensors(quant: ModelProto, weights: Set<string>): Set<string> {
  const out = new Set<string>()
  for (const n of quant.graph?.node ?? []) {
    for (const o of n.output ?? []) {
      if (n.op_type === 'DequantizeLinear' || (weights.has(o) && n.op_type !== 'Constant')) out.add(o)
    }
  }
  return out
}

/** A tensor's figures in one round: its distribution in each model and how they compare. */
interface TensorFigures {
  origin: TensorStats
  dequant: { stats: TensorStats; clip: number; gridClip: number; cosine: number } | null
}
/** By pairKey: a float tensor and the quantized model's tensor it is compared with. */
type Figures = Map<string, TensorFigures>

interface CompareContext {
  quantized: Set<string>
  reluRead: Set<string>
  aliases: Map<string, string[]>
  decoded: ReadonlyMap<string, Float32Array>
  grids: Map<string, DequantParams>
  quantiles: boolean
}

/** The figures of every tensor of one batch that both runs gave, against each name the quantized model reads it as. */
function addFigures(figures: Figures, a: Map<string, TensorValues>, b: Map<string, TensorValues>, c: CompareContext): void {
  for (const [name, va] of a) {
    const origin = tensorStats(va.data, { quantiles: c.quantiles })
    for (const q of [name, ...(c.aliases.get(name) ?? [])]) {
      // a weight only its decoded values stand for (DYNAMIC_QUANT's int8 MatMul weights)
      const vb = q === name ? c.decoded.get(name) ?? b.get(q)?.data : b.get(q)?.data
      const comparable = vb !== undefined && vb.length === va.data.length
      // the distributions are each model's own; Clip and cosine compare what the readers see
      const seen = (x: Float32Array) => (c.reluRead.has(name) ? x.map((v) => (v > 0 ? v : 0)) : x)
      const [sa, sb] = comparable ? [seen(va.data), seen(vb)] : [va.data, va.data]
      const grid = c.grids.get(q)
      figures.set(pairKey(name, q), {
        origin,
        dequant: comparable
          ? {
            stats: tensorStats(vb, { quantiles: c.quantiles }),
            clip: c.quantized.has(q) ? clipShare(sa, sb) : 0,
            gridClip: grid ? gridClipShare(sa, va.dims, grid) : 0,
            cosine: cosineSimilarity(sa, sb),
          }
          : null,
      })
    }
  }
}

function roundRows(
  round: number, nodes: DebugNode[], readAs: (string[] | undefined)[], weights: Set<string>, modelOutputs: string[], figures: Figures, display: (t: string) => string,
): DebugRound {
  const rows: DebugRow[] = []
  nodes.forEach((n, i) => {
    for (const [inOut, list] of [['Input', n.inputs], ['Output', n.outputs]] as const) {
      list.forEach((tensor, k) => {
        const f = (inOut === 'Input' ? figures.get(pairKey(tensor, readAs[i]?.[k] ?? tensor)) : undefined) ?? figures.get(tensor)
        if (!f) return
        const base = { nodeName: n.name, nodeType: n.opType, tensorName: display(tensor), inOut, tensorType: weights.has(tensor) ? 'Weight' as const : 'Activation' as const }
        rows.push({ ...base, dataType: 'Origin', stats: f.origin, clip: 0, gridClip: 0, cosine: 1 })
        if (f.dequant) rows.push({ ...base, dataType: 'Dequant', stats: f.dequant.stats, clip: f.dequant.clip, gridClip: f.dequant.gridClip, cosine: f.dequant.cosine })
      })
    }
  })
  // model outputs are never compared through a Relu, so their figures' cosine is the plain one
  const outputs = modelOutputs.flatMap((tensor) => {
    const d = figures.get(tensor)?.dequant
    return d ? [{ tensor, cosine: d.cosine }] : []
  })
  return { round, rows, outputs }
}

/** `known`: the tensor's figures of this round, whose ranges spare a pass over both. */
function jointHistogram(tensor: string, origin: Float32Array, dequant: Float32Array, bins: number, known: TensorFigures & { dequant: NonNullable<TensorFigures['dequant']> }): TensorHistogram {
  // NaN-free ranges (a NaN compares false): a side without a number (min and max NaN) adds nothing
  const lows = [known.origin.min, known.dequant.stats.min].filter((x) => !Number.isNaN(x))
  const highs = [known.origin.max, known.dequant.stats.max].filter((x) => !Number.isNaN(x))
  let lo = Math.min(Infinity, ...lows)
  let hi = Math.max(-Infinity, ...highs)
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) lo = hi = 0
  return { tensor, lo, hi, origin: histogram(origin, lo, hi, bins), dequant: histogram(dequant, lo, hi, bins) }
}

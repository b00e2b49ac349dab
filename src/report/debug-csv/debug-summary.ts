import type { QuantType } from '../../cfg/index.js'
import type { QuantizedLayer } from '../../quant/weight-quant.js'
import type { DebugNode, DebugStats, OutputCosine, TensorHistogram } from './debug-stats.js'
import { recommend, type Recommendation } from './recommendations.js'

/** One node as the HTML report charts it: how close its output stays to fp32, and its width. */
export interface LayerDebug {
  node: string
  opType: string
  /** Its first float output. */
  tensor: string
  /** Mean over rounds of the output's cosine, quantized vs fp32. */
  cosine: number
  /**
   * The lowest mean cosine among its activation inputs (1 for graph inputs; for inputs the
   * quantized graph folded away, that of the nearest compared tensors upstream): what it received.
   */
  inputCosine: number
  /** Largest Clip over rounds of its output and of its quantized weight. */
  clip: number
  /**
   * Largest share over rounds of the original values of its output and of its quantized weight
   * that the quantization grid cannot hold (DebugRow.gridClip; a WEIGHT_QUANT weight's own
   * clip): what saturation actually cuts, where Clip also counts values rounded in from the grid's ends.
   */
  gridClip: number
  /** Width of the quantized weight it reads; null when it reads none. */
  bits: number | null
  /**
   * It reads or writes a quantized tensor (a rewritten weight, a DequantizeLinear output): the
   * nodes a skip_quant_node entry can change.
   */
  quantized: boolean
  weight: string | null
  /** Original min and max over rounds of each activation input (for Add/Concat range checks). */
  inputRanges: { tensor: string; min: number; max: number }[]
}

export interface LayerHistogram extends TensorHistogram {
  node: string
  kind: 'output' | 'weight'
}

/** What the HTML report shows of the debug statistics (JSON-safe: it travels in the cached report). */
export interface DebugSummary {
  rounds: number
  inputs: 'calibration' | 'generated' | 'given'
  /** Mean over rounds of each model output's cosine. */
  outputs: OutputCosine[]
  layers: LayerDebug[]
  histograms: LayerHistogram[]
  recommendations: Recommendation[]
  /** One line that skips every recommended node (null when there is none). */
  skipLine: string | null
}

export interface SummaryOptions {
  quantType: QuantType
  /** The cfg's skip_quant_node: recommended lines extend it. */
  skipQuantNode: readonly string[]
  inputs: DebugSummary['inputs']
  /** Layers whose histograms are kept. @default 6 */
  worst?: number
}

/** How much error a node adds to what it receives; the worst layers are ranked by it. */
export const addedError = (l: LayerDebug): number => l.inputCosine - l.cosine

export function summarizeDebug(stats: DebugStats, quantized: readonly QuantizedLayer[], options: SummaryOptions): DebugSummary {
  const rounds = stats.rounds.length
  const meanCos = new Map<string, number>()
  const maxClip = new Map<string, number>()
  const maxGrid = new Map<string, number>()
  const ranges = new Map<string, { min: number; max: number }>()
  const seen = new Set<string>()
  for (const r of stats.rounds) {
    for (const row of r.rows) {
      if (row.dataType === 'Dequant') {
        maxGrid.set(row.tensorName, Math.max(maxGrid.get(row.tensorName) ?? 0, row.gridClip))
        // each tensor appears once per node that reads or writes it: count it once per round
        const key = `${r.round}\u0000${row.tensorName}`
        if (!seen.has(key)) {
          seen.add(key)
          meanCos.set(row.tensorName, (meanCos.get(row.tensorName) ?? 0) + row.cosine / rounds)
          maxClip.set(row.tensorName, Math.max(maxClip.get(row.tensorName) ?? 0, row.clip))
        }
      } else {
        const g = ranges.get(row.tensorName) ?? { min: Infinity, max: -Infinity }
        g.min = Math.min(g.min, row.stats.min)
        g.max = Math.max(g.max, row.stats.max)
        ranges.set(row.tensorName, g)
      }
    }
  }
  // A tensor the quantized graph no longer has (folded into a neighbour: BatchNormalization into
  // its Conv) has no cosine of its own: what reaches it is what reached the nearest compared
  // tensors upstream. Without this, a folded input would count as exact and blame its consumer.
  const producer = new Map<string, DebugNode>()
  for (const n of stats.nodes) for (const o of n.outputs) producer.set(o, n)
  const upstream = new Map<string, number>()
  const arriving = (t: string): number => {
    const known = meanCos.get(t) ?? upstream.get(t)
    if (known !== undefined) return known
    upstream.set(t, 1) // graph inputs, weights, and a guard against cycles
    const p = producer.get(t)
    const v = p ? Math.min(1, ...p.inputs.filter((i: string) => !stats.weights.has(i)).map(arriving)) : 1
    upstream.set(t, v)
    return v
  }
  const weightOf = new Map<string, QuantizedLayer>()
  for (const l of quantized) for (const n of l.nodes) if (n.name) weightOf.set(n.name, l)
  const layers: LayerDebug[] = []
  for (const n of stats.nodes) {
    const tensor = n.outputs.find((o) => meanCos.has(o))
    if (tensor === undefined) continue
    const acts = n.inputs.filter((i) => !stats.weights.has(i) && ranges.has(i))
    const q = n.name ? weightOf.get(n.name) : undefined
    layers.push({
      node: n.name,
      opType: n.opType,
      tensor,
      cosine: meanCos.get(tensor)!,
      inputCosine: Math.min(1, ...n.inputs.filter((i) => !stats.weights.has(i)).map(arriving)),
      clip: Math.max(maxClip.get(tensor) ?? 0, q ? maxClip.get(q.tensor) ?? 0 : 0),
      gridClip: Math.max(maxGrid.get(tensor) ?? 0, q ? Math.max(maxGrid.get(q.tensor) ?? 0, q.clip) : 0),
      bits: q ? q.bits : null,
      quantized: [...n.inputs, ...n.outputs].some((t) => stats.quantized.has(t)),
      weight: q ? q.tensor : null,
      inputRanges: acts.map((t) => ({ tensor: t, ...ranges.get(t)! })),
    })
  }
  const worst = [...layers].sort((a, b) => addedError(b) - addedError(a) || a.cosine - b.cosine).slice(0, options.worst ?? 6)
  const histograms: LayerHistogram[] = []
  for (const l of worst) {
    const out = stats.histograms.get(l.tensor)
    if (out) histograms.push({ ...out, node: l.node, kind: 'output' })
    const w = l.weight ? stats.histograms.get(l.weight) : undefined
    if (w) histograms.push({ ...w, node: l.node, kind: 'weight' })
  }
  const outputs = stats.modelOutputs.map((tensor) => ({
    tensor,
    cosine: stats.rounds.reduce((s, r) => s + (r.outputs.find((o) => o.tensor === tensor)?.cosine ?? NaN), 0) / rounds,
  })).filter((o) => Number.isFinite(o.cosine))
  const { recommendations, skipLine } = recommend(layers, options)
  return { rounds, inputs: options.inputs, outputs, layers, histograms, recommendations, skipLine }
}

import type { QuantType } from '../../cfg/index.js'
import type { LayerDebug } from './debug-summary.js'

/** The format's three debugging recommendations, made concrete for one node. */
export interface Recommendation {
  kind: 'clip' | 'range-mismatch' | 'low-cosine'
  node: string
  opType: string
  /** Why, with the measured figure. */
  reason: string
  /** The cfg line to paste (the cfg's own skip_quant_node plus this node); null when the name cannot be listed. */
  line: string | null
}

/**
 * Clipping at or above this share of values is "high": 1% of a tensor saturated shifts its mean
 * visibly. Measured against the quantization grid (LayerDebug.gridClip), not the format's Clip
 * column: Clip counts the extreme values that round inward to the grid's last step too, which a
 * grid covering the data still does (PP-OCR cls' GlobalAveragePool: Clip 25%, nothing cut).
 */
export const HIGH_CLIP = 0.01
/**
 * Inputs of a merging op whose ranges differ by this factor share one quantization scale
 * badly: the narrow input keeps log2(16) = 4 bits fewer than the wide one.
 */
export const RANGE_RATIO = 16
/** Output cosine below this counts as a low-cosine layer, when the node itself loses accuracy. */
export const LOW_COSINE = 0.99
/** At most this many low-cosine layers are listed, worst first. */
const MAX_LOW_COSINE = 10

const MERGING = new Set(['Add', 'Sum', 'Concat'])

export interface RecommendOptions {
  quantType: QuantType
  skipQuantNode: readonly string[]
}

/**
 * Layers worth leaving in float, as the format's docs recommend: high Clip, Add/Concat inputs
 * with widely different ranges (only when activations are quantized: FULL_QUANT), and low
 * output cosine where the node itself adds the error. Only nodes a skip_quant_node entry would
 * change are listed: those reading or writing a quantized weight or a DequantizeLinear output.
 */
export function recommend(layers: readonly LayerDebug[], options: RecommendOptions): { recommendations: Recommendation[]; skipLine: string | null } {
  const activations = options.quantType === 'FULL_QUANT'
  const skipped = new Set(options.skipQuantNode)
  const skippable = (l: LayerDebug) => l.node !== '' && !skipped.has(l.node) && l.quantized
  const line = (node: string) => (node.includes(',') ? null : `skip_quant_node=${[...options.skipQuantNode, node].join(',')}`)
  const out: Recommendation[] = []
  const add = (l: LayerDebug, kind: Recommendation['kind'], reason: string) => {
    const name = l.node.includes(',') ? `${reason}; its name contains a comma, which skip_quant_node cannot list` : reason
    out.push({ kind, node: l.node, opType: l.opType, reason: name, line: line(l.node) })
  }
  for (const l of layers) {
    if (!skippable(l) || l.gridClip < HIGH_CLIP) continue
    add(l, 'clip', `${(l.gridClip * 100).toFixed(1)}% of its values fall outside the quantization grid and are cut off`)
  }
  if (activations) {
    for (const l of layers) {
      if (!skippable(l) || !MERGING.has(l.opType) || l.inputRanges.length < 2) continue
      const spans = l.inputRanges.map((r) => ({ ...r, span: r.max - r.min })).filter((r) => r.span > 0)
      if (spans.length < 2) continue
      const wide = spans.reduce((a, b) => (b.span > a.span ? b : a))
      const narrow = spans.reduce((a, b) => (b.span < a.span ? b : a))
      const ratio = wide.span / narrow.span
      if (ratio < RANGE_RATIO) continue
      add(l, 'range-mismatch', `input ranges differ ${ratio.toFixed(0)}x: ${narrow.tensor} [${fmt(narrow.min)}, ${fmt(narrow.max)}] vs ${wide.tensor} [${fmt(wide.min)}, ${fmt(wide.max)}]`)
    }
  }
  const low = layers.filter((l) => skippable(l) && l.cosine < LOW_COSINE && l.inputCosine - l.cosine > 0)
    .sort((a, b) => (b.inputCosine - b.cosine) - (a.inputCosine - a.cosine))
    .slice(0, MAX_LOW_COSINE)
  for (const l of low) add(l, 'low-cosine', `output cosine ${l.cosine.toFixed(5)} (inputs ${l.inputCosine.toFixed(5)})`)
  const nodes = [...new Set(out.map((r) => r.node).filter((n) => !n.includes(',')))]
  return { recommendations: out, skipLine: nodes.length ? `skip_quant_node=${[...options.skipQuantNode, ...nodes].join(',')}` : null }
}

const fmt = (x: number) => Number(x.toPrecision(4)).toString()

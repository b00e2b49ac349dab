import type { Feeds } from '../runtime/feeds.js'
import { floatVariants } from './float-variants.js'
import { decodedValues, encodeWeight, type EncodedWeight, type PlannedWeight } from './weight-quant.js'

export interface EscalationOptions {
  /** Output cosine vs fp32 the quantized model must reach on `samples`. */
  target: number
  /** Width given to the layers that need it (int16 storage above 8). */
  highBits: number
  /** At most this share of the quantized weight elements may be escalated. */
  maxShare: number
  /**
   * Rank the weights on the first this many samples (one session per weight); the whole-model
   * checks (before, and the search over the ranking) use every sample.
   * @default every sample
   */
  rankSamples?: number
  /**
   * When even `maxShare` does not reach the target, escalate only the ranked prefix within this
   * smaller share: bytes that buy a target are worth more than bytes that only narrow a miss.
   * @default maxShare (no second budget)
   */
  unreachedShare?: number
}

export interface Escalation {
  /** Planned weights to store at `highBits` instead of the requested width. */
  escalated: Set<PlannedWeight>
  cosineBefore: number
  cosineAfter: number
  reached: boolean
  /** Per weight: 1 - output cosine with only that weight quantized, on the ranking samples (see `rankSamples`). */
  sensitivity: Map<PlannedWeight, number>
  sessions: number
}

/**
 * Some layers carry far more of a model's rounding error than others (measured on PP-OCRv4 det
 * at 8 bit: one 48x48 pointwise conv gives half of the output error). When the quantized model
 * misses `target`, measure each weight's effect alone, rank the weights by that effect per
 * element, then store the shortest prefix of the ranking at `highBits`
 * that brings the whole model to the target (bisection).
 * The variants are scored in a float copy of the model (src/quant/float-variants.ts).
 */
export async function escalateSensitiveWeights(
  original: Uint8Array,
  planned: PlannedWeight[],
  low: Map<PlannedWeight, EncodedWeight>,
  samples: Feeds[],
  opts: EscalationOptions,
  means: Map<PlannedWeight, Float64Array> = new Map(),
): Promise<Escalation | null> {
  const variants = await floatVariants(original, planned, samples, means)
  // variants overwrite raw float32 data in place; other storage is left to the plain encoding
  if (!variants) return null
  const high = new Map<PlannedWeight, Float32Array>()
  const lowDecoded = new Map<PlannedWeight, Float32Array>()
  const lowOf = (w: PlannedWeight): Float32Array => {
    let v = lowDecoded.get(w)
    if (!v) lowDecoded.set(w, (v = decodedValues(w, low.get(w)!)))
    return v
  }
  const highOf = (w: PlannedWeight): Float32Array => {
    let v = high.get(w)
    if (!v) high.set(w, (v = decodedValues(w, encodeWeight(w, opts.highBits))))
    return v
  }
  const cosineBefore = await variants.score(lowOf)
  const sensitivity = new Map<PlannedWeight, number>()
  if (cosineBefore >= opts.target) {
    return { escalated: new Set(), cosineBefore, cosineAfter: cosineBefore, reached: true, sensitivity, sessions: variants.sessions }
  }
  const rankCount = Math.min(samples.length, opts.rankSamples ?? samples.length)
  for (const w of planned) sensitivity.set(w, 1 - (await variants.score((x) => (x === w ? lowOf(x) : variants.float(x)), rankCount)))
  const total = planned.reduce((n, w) => n + w.elements, 0)
  const budget = total * opts.maxShare
  // Ranked by output error per weight element (what escalating buys per stored byte), passing
  // over weights that do not fit the budget: ranked by output error alone, a 120x6625 head first
  // in PP-OCRv4 rec's ranking at 6 bit ended the search after 7 weights (0.929 held out, against
  // 0.998 per element).
  const ranked: PlannedWeight[] = []
  let used = 0
  for (const w of [...planned].sort((a, b) => sensitivity.get(b)! / b.elements - sensitivity.get(a)! / a.elements)) {
    if (sensitivity.get(w)! <= 0 || used + w.elements > budget) continue
    ranked.push(w)
    used += w.elements
  }
  const cap = ranked.length
  const position = new Map(ranked.map((w, i) => [w, i]))
  const withTop = (k: number) => variants.score((w) => ((position.get(w) ?? Infinity) < k ? highOf(w) : lowOf(w)))
  // Smallest k whose top-k escalation reaches the target; the cosine is close to monotone in k.
  let best = { k: cap, cosine: cap > 0 ? await withTop(cap) : cosineBefore }
  if (best.cosine >= opts.target) {
    let lo = 0
    let hi = cap
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1
      const c = await withTop(mid)
      if (c >= opts.target) {
        hi = mid
        best = { k: mid, cosine: c }
      } else lo = mid
    }
  }
  if (best.cosine < opts.target && opts.unreachedShare !== undefined) {
    // the target is out of reach anyway: spend only the smaller budget on getting closer
    let k = 0
    for (let used = 0; k < cap && used + ranked[k]!.elements <= total * opts.unreachedShare; k++) used += ranked[k]!.elements
    if (k < best.k) best = { k, cosine: k > 0 ? await withTop(k) : cosineBefore }
  }
  return {
    escalated: new Set(ranked.slice(0, best.k)),
    cosineBefore,
    cosineAfter: best.cosine,
    reached: best.cosine >= opts.target,
    sensitivity,
    sessions: variants.sessions,
  }
}

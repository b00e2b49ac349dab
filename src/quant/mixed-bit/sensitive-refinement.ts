import type { Feeds } from '../../runtime/feeds.js'
import { decodeWeights } from '../weight-correction.js'
import type { PlannedWeight } from '../weight-quant.js'
import { floatVariants } from '../float-variants.js'
import { rankWeights } from '../rank-weights.js'
import { encodeMixedBitWeight, fixedEightBit, type MixedBitEncoded } from './mixed-bit-weights.js'

export interface RefinementOptions {
  /** Output cosine vs fp32 the model must reach on the samples. */
  target: number
  /** The init_scale the weights were encoded at. */
  initScale: number
  /**
   * A sensitive weight may get its step searched for relative error init_scale / d, for each d
   * here, or go to fixed 8 bit: whichever buys the most output cosine per stored byte.
   * @default [2, 4]
   */
  divisors?: readonly number[]
  /** At most this share of the weight elements may change encoding. @default 0.25 */
  maxShare?: number
  /** Threads the ranking may use, the calling thread included (src/quant/rank-weights.ts). @default 1 */
  threads?: number
}

export interface Refinement {
  /** Every weight's final encoding, in the order given. */
  encoded: MixedBitEncoded[]
  cosineBefore: number
  cosineAfter: number
  /** Model variants scored (one inference per ranking sample each to rank, per sample otherwise). */
  scored: number
  /** Threads the weights were ranked on. */
  rankingThreads: number
  /** Samples each weight's variant was scored on (0: the target was met without a ranking). */
  rankingSamples: number
}

/** One way to store a weight: its encoding, estimated bytes, and predicted output error. */
interface Option {
  enc: MixedBitEncoded
  bytes: number
  /** Predicted output cosine this weight alone loses when stored this way. */
  loss: number
}

/** Moving one weight from one option to a finer one. */
interface Upgrade {
  w: PlannedWeight
  to: Option
  /** Predicted cosine gained per byte spent. */
  ratio: number
}

const FIXED_8_REASON = 'output-sensitive: stored at fixed 8 bit to keep the accuracy target'

/** Entropy of the codes times their count: the bytes a good coder spends on them. */
const bytesOf = (enc: MixedBitEncoded) => (enc.layer.elements * enc.layer.effectiveBits) / 8

/**
 * The mixed-bit accuracy guard. When the model misses `target` on the samples, measure each
 * weight's effect alone (the output cosine lost with only that weight quantized, against the
 * float model's own score: src/quant/rank-weights.ts), then spend bytes where
 * they buy the most cosine: a sensitive weight gets a finer step (its step searched for
 * init_scale / 2 or / 4, about one or two bits more per element) or fixed 8 bit, whichever the
 * predicted gain per byte favours. The prediction scales a weight's effect by its squared
 * relative error (output error variance grows with weight error variance). Every weight's
 * choices form a chain of decreasing gain per byte (the lower convex hull of bytes vs predicted
 * loss), the chains are merged into one ranking, and the shortest prefix of it that brings the
 * whole model to the target is kept (when none does, the prefix with the best cosine). Null
 * when the weights cannot be written into a float copy (float16, double or external data).
 */
export async function refineSensitiveWeights(
  original: Uint8Array, encoded: readonly MixedBitEncoded[], samples: readonly Feeds[], opts: RefinementOptions,
  means: ReadonlyMap<PlannedWeight, Float64Array> = new Map(),
): Promise<Refinement | null> {
  const planned = encoded.map((e) => e.w)
  const variants = await floatVariants(original, planned, samples, means)
  if (!variants) return null
  try {
    const decoded = new Map<MixedBitEncoded, Float32Array>()
    const valuesOf = (enc: MixedBitEncoded) => {
      let v = decoded.get(enc)
      if (!v) decoded.set(enc, (v = decodeWeights(enc.q.codes, enc.params, enc.w.site.dims, enc.q.axis)))
      return v
    }
    const base = new Map(encoded.map((e) => [e.w, e]))
    const started = performance.now()
    const cosineBefore = await variants.score((w) => valuesOf(base.get(w)!))
    const scoreMs = performance.now() - started
    let threads = 1
    let count = 0
    const done = (chosen: Map<PlannedWeight, MixedBitEncoded>, cosine: number): Refinement => ({
      encoded: planned.map((w) => chosen.get(w)!), cosineBefore, cosineAfter: cosine, scored: variants.scored, rankingThreads: threads, rankingSamples: count,
    })
    if (cosineBefore >= opts.target) return done(base, cosineBefore)

    const ranking = await rankWeights(variants, planned, (w) => valuesOf(base.get(w)!), { samples, threads: opts.threads ?? 1, scoreMs })
    count = ranking.samples
    threads = ranking.threads
    const upgrades: Upgrade[] = []
    for (const [i, e] of encoded.entries()) {
      const loss = ranking.losses[i]!
      if (!(loss > 0) || !(e.layer.relativeError > 0)) continue
      upgrades.push(...upgradeChain(e, loss, opts))
    }
    // a stable sort keeps each weight's chain in order: its ratios only decrease along it
    upgrades.sort((a, b) => b.ratio - a.ratio)
    const total = planned.reduce((n, w) => n + w.elements, 0)
    const budget = total * (opts.maxShare ?? 0.25)
    const ranked: Upgrade[] = []
    const touched = new Set<PlannedWeight>()
    let used = 0
    for (const u of upgrades) {
      if (!touched.has(u.w)) {
        if (used + u.w.elements > budget) continue
        touched.add(u.w)
        used += u.w.elements
      }
      ranked.push(u)
    }
    const stateAt = (k: number) => {
      const chosen = new Map(base)
      for (const u of ranked.slice(0, k)) chosen.set(u.w, u.to.enc)
      return chosen
    }
    const scoreAt = (k: number) => {
      const chosen = stateAt(k)
      return variants.score((w) => valuesOf(chosen.get(w)!))
    }
    // The first prefix of the ranking that reaches the target. The cosine is far from monotone
    // along it (on PP-OCRv4 rec a finer step for one early conv can cost 0.002: what matters is the
    // rounding pattern, not only its size), so a bisection would stop anywhere; walking the
    // prefixes in order spends no more bytes than the ranking needs.
    let best = { k: 0, cosine: cosineBefore }
    for (let k = 1; k <= ranked.length; k++) {
      const cosine = await scoreAt(k)
      if (cosine > best.cosine) best = { k, cosine }
      if (cosine >= opts.target) {
        best = { k, cosine }
        break
      }
    }
    return done(stateAt(best.k), best.cosine)
  } finally {
    await variants.dispose()
  }
}

/**
 * A weight's finer encodings, as the steps from one to the next along the lower convex hull of
 * (bytes, predicted loss) starting at its init_scale encoding: each step is the best gain per
 * byte from where the previous one left off, so gains per byte only decrease along the chain.
 */
function upgradeChain(e: MixedBitEncoded, loss: number, opts: RefinementOptions): Upgrade[] {
  const e0 = e.layer.relativeError
  const option = (enc: MixedBitEncoded): Option => ({ enc, bytes: bytesOf(enc), loss: loss * (enc.layer.relativeError / e0) ** 2 })
  const finer: Option[] = []
  for (const d of opts.divisors ?? [2, 4]) {
    const relativeError = opts.initScale / d
    const enc = encodeMixedBitWeight(e.w, relativeError)
    finer.push(option({ ...enc, layer: { ...enc.layer, refinedTo: relativeError } }))
  }
  finer.push(option(fixedEightBit(e.w, e.layer, FIXED_8_REASON)))
  const chain: Upgrade[] = []
  let at = option(e)
  for (;;) {
    let next: Upgrade | null = null
    for (const o of finer) {
      if (!(o.loss < at.loss)) continue
      const spent = o.bytes - at.bytes
      const ratio = spent > 0 ? (at.loss - o.loss) / spent : Infinity
      if (!next || ratio > next.ratio) next = { w: e.w, to: o, ratio }
    }
    if (!next) return chain
    chain.push(next)
    at = next.to
  }
}

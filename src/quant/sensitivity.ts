import type { Feeds } from '../runtime/feeds.js'
import { floatVariants } from './float-variants.js'
import { rankWeights } from './rank-weights.js'
import { decodedValues, encodeWeight, type EncodedWeight, type PlannedWeight } from './weight-quant.js'

/** Which wider codes a weight may get, and what each costs. */
export interface WidthChoices {
  /** The width every weight has now (the cfg's bit_num). */
  bits: number
  /** Wider widths a weight may move to, narrowest first (8 bit: 9, 10, 12; 6-7 bit: 8, 9, 10, 12). */
  widths: readonly number[]
  /** What storing `w` at `to` instead of `from` costs (src/quant/escalation-costs.ts: stored bytes from 8 bit, bit-weighted elements below). */
  cost: (w: PlannedWeight, from: number, to: number) => number
}

export interface EscalationOptions extends WidthChoices {
  /** Output cosine vs fp32 the quantized model should reach on `samples`. */
  target: number
  /** The most the escalation may cost in all, in `cost`'s units; asked only when the target is missed. */
  budget: () => number
  /**
   * Threads the ranking may score on side by side, the calling thread included (the result is
   * the same for any count). Used only when the ranking would take long enough to repay starting them.
   * @default 1
   */
  threads?: number
}

export interface Escalation {
  /** Planned weights to store wider than `bits`, with their width. */
  widths: Map<PlannedWeight, number>
  cosineBefore: number
  cosineAfter: number
  reached: boolean
  /** What the chosen widths cost, in `cost`'s units. */
  spent: number
  /** Per weight: the output cosine lost with only that weight quantized (src/quant/rank-weights.ts `Ranking.losses`), on the ranking samples (src/quant/rank-weights.ts `rankingSampleCount`). */
  sensitivity: Map<PlannedWeight, number>
  /** Model variants scored, the ranking's float reference included (one inference per ranking sample each to rank, per sample to judge). */
  scored: number
  /** Threads the ranking ran on: 1, or the calling thread plus the workers it used. */
  rankingThreads: number
  /** Samples each weight's variant was scored on (0: the target was met without a ranking). */
  rankingSamples: number
}

/** One upgrade of the allocation: `w` to `bits`, with the cost of every upgrade so far. */
export interface Step {
  w: PlannedWeight
  bits: number
  spent: number
}

/**
 * Some layers carry far more of a model's rounding error than others (measured on PP-OCRv4 det
 * at 8 bit: one 48x48 pointwise conv gives half of the output error). When the quantized model
 * misses `target`, measure each weight's effect alone, then spend the budget on wider codes
 * where they buy the most error per unit of cost (greedy; a weight's error is taken to fall 4x a
 * bit, as its rounding noise power does). The whole budget is spent rather than the least that
 * reaches the target on these samples: that least is a poor guide on other inputs (silero v5 at
 * 8 bit reached 0.99996 on generated inputs with 3 weights widened and held 0.99982 out; PP-OCRv4
 * rec gained nothing on generated inputs from a budget that took it from 0.99986 to 0.99996 held
 * out). The variants are scored in a float copy of the model (src/quant/float-variants.ts).
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
  // only raw float32 weights can be fed as float32 inputs; other storage keeps the plain encoding
  if (!variants) return null
  try {
    const decoded = new Map<PlannedWeight, Map<number, Float32Array>>()
    const valuesAt = (w: PlannedWeight, bits: number): Float32Array => {
      let byWidth = decoded.get(w)
      if (!byWidth) decoded.set(w, (byWidth = new Map()))
      let v = byWidth.get(bits)
      if (!v) byWidth.set(bits, (v = decodedValues(w, bits === opts.bits ? low.get(w)! : encodeWeight(w, bits))))
      return v
    }
    const started = performance.now()
    const cosineBefore = await variants.score((w) => valuesAt(w, opts.bits))
    const scoreMs = performance.now() - started
    const sensitivity = new Map<PlannedWeight, number>()
    let lanes = 1
    let rankCount = 0
    const done = (widths: Map<PlannedWeight, number>, cosineAfter: number, spent: number): Escalation =>
      ({ widths, cosineBefore, cosineAfter, reached: cosineAfter >= opts.target, spent, sensitivity, scored: variants.scored, rankingThreads: lanes, rankingSamples: rankCount })
    if (cosineBefore >= opts.target) return done(new Map(), cosineBefore, 0)
    const ranking = await rankWeights(variants, planned, (w) => valuesAt(w, opts.bits), { samples, threads: opts.threads ?? 1, scoreMs })
    rankCount = ranking.samples
    lanes = ranking.threads
    for (const [i, w] of planned.entries()) sensitivity.set(w, ranking.losses[i]!)
    // Allocated by error bought per unit of cost: ranked by error alone, a 120x6625 head first in
    // PP-OCRv4 rec's ranking at 6 bit ended the search after 7 weights (0.929 held out, against
    // 0.998 per element).
    const budget = opts.budget()
    const candidates = candidateAllocations(planned, sensitivity, opts, budget)
    let best = done(new Map(), cosineBefore, 0)
    for (const steps of candidates) {
      const widths = new Map(steps.map((s) => [s.w, s.bits]))
      const cosine = await variants.score((w) => valuesAt(w, widths.get(w) ?? opts.bits))
      // a few samples can score a widened model below the plain one: then the plain one stays.
      // Picking the best of up to 3 + widths candidates on the samples that judge it (which
      // include the ranking's) leans the reported cosine up; the held-out figures in
      // bench/RESULTS.md are what to trust.
      if (cosine > best.cosineAfter) best = done(widths, cosine, steps.at(-1)!.spent)
    }
    return best
  } finally {
    await variants.dispose()
  }
}

/**
 * The allocations worth scoring whole: the greedy one over every width; where there is more than
 * one wider width, the greedy ones over the widest alone and over the narrowest alone (below 8
 * bit, 8: on PP-OCRv4 det at 6 bit the mix scored 0.99752 on its samples against 0.99883 for 8 bit
 * alone; a width as dear as a wider one, for codes that cannot pack, left out); and when one
 * weight carries half the loss or more, that weight at each width it can take with the rest
 * greedy in what is left. A
 * model is not always as smooth as the 4x-a-bit rule assumes. Silero legacy's STFT basis carries
 * 99% of its 8-bit loss on speech, and what it costs a frame is heavy-tailed: over 24 frames, 3.6e-4
 * of cosine at 8 bit, 4.5e-5 at 9, 2.6e-4 at 10 (one frame 6e-3) and 1.8e-6 at 12. With that frame
 * among 4 samples, the greedy mix (the basis at 10) scored below the plain model, 12 bit did not
 * fit the budget (the 6% of 4937201; legacy gets 12% since a16400b), and the widest allocation,
 * the basis left at 8, was kept: 0.99971 held out
 * on 24 frames, against 0.99991 with the basis at 9 (bench audio, tuned on 4 frames).
 */
export function candidateAllocations(planned: readonly PlannedWeight[], sensitivity: ReadonlyMap<PlannedWeight, number>, choices: WidthChoices, budget: number): Step[][] {
  const out: Step[][] = []
  const seen: Map<PlannedWeight, number>[] = []
  const add = (steps: Step[]) => {
    const final = new Map(steps.map((x) => [x.w, x.bits]))
    // the same final widths (an allocation that went to the widest code anyway) need no second score
    if (!steps.length || seen.some((m) => m.size === final.size && [...final].every(([w, bits]) => m.get(w) === bits))) return
    seen.push(final)
    out.push(steps)
  }
  add(allocateWidths(planned, sensitivity, choices, budget))
  if (choices.widths.length < 2) return out
  add(allocateWidths(planned, sensitivity, { ...choices, widths: choices.widths.slice(-1) }, budget))
  const narrowest = choices.widths[0]!
  add(allocateWidths(planned.filter((w) => !dominated(w, choices.bits, narrowest, choices)), sensitivity, { ...choices, widths: [narrowest] }, budget))
  let top: PlannedWeight | null = null
  let total = 0
  for (const w of planned) {
    total += sensitivity.get(w)!
    if (!top || sensitivity.get(w)! > sensitivity.get(top)!) top = w
  }
  if (!top || !(total > 0) || sensitivity.get(top)! < DOMINANT_SHARE * total) return out
  for (const bits of choices.widths) {
    const cost = choices.cost(top, choices.bits, bits)
    if (cost > budget || dominated(top, choices.bits, bits, choices)) continue
    const rest = allocateWidths(planned.filter((w) => w !== top), sensitivity, choices, budget - cost)
    add([{ w: top, bits, spent: cost }, ...rest.map((x) => ({ ...x, spent: x.spent + cost }))])
  }
  return out
}

/** Whether a wider width costs `w` no more than `to` (codes that cannot pack stay int16): then `to` is never worth it. */
function dominated(w: PlannedWeight, from: number, to: number, choices: WidthChoices): boolean {
  const cost = choices.cost(w, from, to)
  return choices.widths.some((b) => b > to && choices.cost(w, from, b) <= cost)
}

/** The share of the summed loss from which one weight's width is tried at every width. */
const DOMINANT_SHARE = 0.5

/**
 * Greedy width allocation within `budget`: repeatedly take the upgrade (a weight from its width
 * to any wider one) with the most modelled error removed per unit of cost, passing over upgrades
 * that no longer fit. Weights whose effect alone is nil are left as they are.
 */
export function allocateWidths(planned: readonly PlannedWeight[], sensitivity: ReadonlyMap<PlannedWeight, number>, choices: WidthChoices, budget: number): Step[] {
  const error = (w: PlannedWeight, bits: number) => modelledError(sensitivity.get(w)!, choices.bits, bits)
  const current = new Map<PlannedWeight, number>()
  const steps: Step[] = []
  let spent = 0
  const candidates = planned.filter((w) => sensitivity.get(w)! > 0)
  for (;;) {
    let pick: { w: PlannedWeight; bits: number; cost: number; ratio: number } | null = null
    for (const w of candidates) {
      const from = current.get(w) ?? choices.bits
      for (const bits of choices.widths) {
        if (bits <= from) continue
        const cost = choices.cost(w, from, bits)
        if (spent + cost > budget) continue
        const ratio = (error(w, from) - error(w, bits)) / Math.max(cost, 1e-9)
        if (!pick || ratio > pick.ratio) pick = { w, bits, cost, ratio }
      }
    }
    if (!pick) return steps
    spent += pick.cost
    current.set(pick.w, pick.bits)
    steps.push({ w: pick.w, bits: pick.bits, spent })
  }
}

/** A weight's modelled effect on the output at `width`, from its effect alone at `bits`: rounding noise power falls 4x a bit. */
export function modelledError(sensitivity: number, bits: number, width: number): number {
  return sensitivity * 4 ** (bits - width)
}

/**
 * The weights that still cost the most after the escalation (by modelled error at their final
 * width), costliest first, at most `count`: what a user who misses the target can keep float.
 */
export function costliestWeights(esc: Escalation, bits: number, count = 3): PlannedWeight[] {
  const left = [...esc.sensitivity].map(([w, s]) => ({ w, e: modelledError(s, bits, esc.widths.get(w) ?? bits) }))
  return left.filter((x) => x.e > 0).sort((a, b) => b.e - a.e).slice(0, count).map((x) => x.w)
}

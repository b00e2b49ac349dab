import { availableCores } from '../runtime/cores.js'
import { sampleElements, type Feeds } from '../runtime/feeds.js'
import type { FloatVariants } from './float-variants.js'
import type { PlannedWeight } from './weight-quant.js'

/**
 * Workers cost their start-up (loading onnxruntime, and the engine from sources under tsx), so
 * the ranking uses them only when one thread would spend longer than this on it.
 */
const PARALLEL_FROM_MS = 2000

/** Samples a ranking scores each variant on, at most. */
const RANKING_SAMPLES = 4

/**
 * Input values a variant is scored on during a ranking, at most (past its first sample): two
 * 640x640 RGB pages, where the four generated 320x320 samples of an image model fit with room to
 * spare. A ranking's cost grows with its inputs' size, and what it learns (which weights carry
 * the error) much less. PP-OCRv4 det with 4 real 640x640 pages as samples (quantizeModel,
 * threads 2, held out on 4 other pages, three page sets; at e83e057, when 6 bit could widen a
 * weight to 8 bit only), ranked on 4 / 2 / 1 of them:
 * - 8 bit: 0.999932 / 0.999919 / 0.999919, 0.999914 / 0.999914 / 0.999948 and 0.999947 /
 *   0.999943 / 0.999936, in 35-39 / 24-25 / 16-17 s;
 * - 6 bit: 0.998729 / 0.998706 / 0.998705, 0.999196 / 0.999190 / 0.999159 and 0.999092 /
 *   0.999064 / 0.998799: one page is too few.
 */
const RANKING_ELEMENTS = 2 * 3 * 640 * 640

/**
 * How many of `samples`, from the first, a ranking scores each variant on: at most
 * RANKING_SAMPLES, and past the first only while their inputs hold RANKING_ELEMENTS values or
 * fewer in all.
 */
export function rankingSampleCount(samples: readonly Feeds[]): number {
  let count = 0
  let elements = 0
  for (const sample of samples.slice(0, RANKING_SAMPLES)) {
    elements += sampleElements(sample)
    if (count > 0 && elements > RANKING_ELEMENTS) break
    count++
  }
  return count
}

export interface RankingOptions {
  /** The samples the variants score on: each is scored on the first rankingSampleCount(samples). */
  samples: readonly Feeds[]
  /** Threads the variants may be scored on: the calling thread and `threads` - 1 workers; 1 keeps them on the calling thread. */
  threads: number
  /** Time of one score on every sample, on one thread: it decides whether workers pay. */
  scoreMs: number
}

export interface Ranking {
  /**
   * Per weight, in the order given: the output cosine lost by the variant where only it is
   * changed, against the float model scored the same way (0 when it changes nothing, and when
   * the variant scores above the float model).
   */
  losses: number[]
  /** Threads the variants were scored on: 1, or the calling thread plus the workers used. */
  threads: number
  /** Samples each variant was scored on. */
  samples: number
}

/**
 * Score one variant per weight, with `valuesOf(w)` in that weight and every other weight float,
 * and the float model once to measure the losses against: the measurement behind every
 * accuracy refinement (which weights carry the output error). With `threads` > 1 and an
 * estimated `scoreMs` per variant that makes the ranking long, the variants are scored side by
 * side on the calling thread and `threads` - 1 workers, with the same scores as on one thread.
 * The workers stop before this returns.
 */
export async function rankWeights(
  variants: FloatVariants, planned: readonly PlannedWeight[], valuesOf: (w: PlannedWeight) => Float32Array,
  { samples, threads, scoreMs }: RankingOptions,
): Promise<Ranking> {
  const count = rankingSampleCount(samples)
  const variantMs = samples.length ? (scoreMs * count) / samples.length : 0
  // Against the float model's own score rather than 1: a weight the samples never reach (silero
  // legacy's 8 kHz branch, on 16 kHz samples) then loses exactly nothing, where against 1 its
  // variant lost the 6e-15 of rounding in the cosine and took wider codes from the budget.
  const floatScore = await variants.floatScore(count)
  const size = Math.min(threads, planned.length)
  // The calling thread is one of the lanes: it would otherwise only wait, and a worker costs its
  // start-up and its own onnxruntime and engine. PP-OCRv4 det / rec at 8 bit, threads 2: peak
  // RSS over the baseline 432 / 433 MB with two workers, 314 / 332 MB with one, same time.
  // While it runs one inference (onnxruntime-node runs on the calling thread), replies from the
  // workers wait.
  const lanes = size > 1 && variantMs * planned.length >= PARALLEL_FROM_MS && variants.parallel(size - 1, { samples: count }) ? size : 1
  const scores = new Array<number>(planned.length)
  let next = 0
  let failed = false
  // every lane stops at the first failure and is waited for, so that no scoring goes on after
  // this has thrown
  const settled = await Promise.allSettled(Array.from({ length: lanes }, async (_, lane) => {
    while (!failed && next < planned.length) {
      const i = next++
      try {
        const w = planned[i]!
        scores[i] = await variants.score((x) => (x === w ? valuesOf(w) : variants.float(x)), count, lanes > 1 && lane === 0)
      } catch (err) {
        failed = true
        throw err
      }
    }
  }))
  await variants.close()
  const failure = settled.find((r) => r.status === 'rejected')
  if (failure) throw failure.reason
  const losses = scores.map((s) => Math.max(0, floatScore - s))
  // workers that all failed left every score to this thread
  return { losses, threads: lanes > 1 && variants.workerScores > 0 ? lanes : 1, samples: count }
}

/** `threads` as given (a whole number, at least 1), else the machine's cores, at most 4. */
export function scoreThreads(threads: number | undefined): number {
  if (threads !== undefined && Number.isFinite(threads)) return Math.max(1, Math.floor(threads))
  return Math.min(4, availableCores())
}

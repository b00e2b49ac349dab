import { spanOf } from './channel-stats.js'

/** Relative error of one step, and the largest integer it needs. */
export interface StepError {
  error: number
  maxCode: number
}

/** ||W - step * round(W / step)|| / ||W|| and max |round(W / step)|, in one pass. */
export function stepError(values: Float32Array, step: number): StepError {
  const inv = 1 / step
  let err = 0
  let norm = 0
  let maxCode = 0
  for (let i = 0; i < values.length; i++) {
    const w = values[i]!
    const q = Math.floor(w * inv + 0.5)
    const d = w - q * step
    err += d * d
    norm += w * w
    const a = q < 0 ? -q : q
    if (a > maxCode) maxCode = a
  }
  return { error: norm > 0 ? Math.sqrt(err / norm) : 0, maxCode }
}

export interface StepSearch {
  step: number
  error: number
  maxCode: number
  /** Whether the error landed within 1% of the target (or below it when the search ran out). */
  met: boolean
  /** How many steps were tried. */
  evaluations: number
}

const TOLERANCE = 0.01
const MAX_EVALUATIONS = 80

/**
 * The one quantization step of a tensor whose relative error ||W - W_hat|| / ||W|| is the
 * target within 1% (the format's mixed-bit search): start from (max - min) * target, double or
 * halve until the error brackets the target, then bisect. The coarsest step found whose error is
 * at most target * 1.01 wins, so `met` is false only when no step was that accurate.
 */
export function searchStep(values: Float32Array, target: number): StepSearch {
  const span = spanOf(values)
  if (!Number.isFinite(span)) throw new RangeError('tensor holds a non-finite value')
  return searchStepWith((step) => stepError(values, step), span, target)
}

/**
 * The same search over any error function of one step (`errorAt`), starting from
 * `span * target`; a zero span (a constant tensor) needs no search.
 */
export function searchStepWith(errorAt: (step: number) => StepError, span: number, target: number): StepSearch {
  if (!(span > 0)) return { step: 1, error: 0, maxCode: 0, met: true, evaluations: 0 }
  let evaluations = 0
  const evalStep = (step: number) => {
    evaluations++
    return errorAt(step)
  }
  const ok = (e: StepError) => e.error <= target * (1 + TOLERANCE)
  let best: { step: number; e: StepError } | null = null
  const consider = (step: number, e: StepError) => {
    if (ok(e) && (!best || step > best.step)) best = { step, e }
  }
  let step = span * target
  let e = evalStep(step)
  consider(step, e)
  // bracket: `good` meets the target, `bad` does not
  let good: number
  let bad: number
  if (e.error > target) {
    bad = step
    do {
      step /= 2
      e = evalStep(step)
      consider(step, e)
    } while (e.error > target && evaluations < MAX_EVALUATIONS && step > 0)
    good = step
  } else {
    good = step
    do {
      step *= 2
      e = evalStep(step)
      consider(step, e)
      if (e.error <= target) good = step
    } while (e.error <= target && evaluations < MAX_EVALUATIONS)
    bad = step
  }
  while (evaluations < MAX_EVALUATIONS) {
    const found = best as { step: number; e: StepError } | null
    if (found && Math.abs(found.e.error - target) <= target * TOLERANCE) break
    const mid = (good + bad) / 2
    e = evalStep(mid)
    consider(mid, e)
    if (e.error <= target) good = mid
    else bad = mid
    if (bad - good <= good * 1e-9) break
  }
  const found = best as { step: number; e: StepError } | null
  if (!found) return { step: good, error: e.error, maxCode: e.maxCode, met: false, evaluations }
  return { step: found.step, error: found.e.error, maxCode: found.e.maxCode, met: true, evaluations }
}

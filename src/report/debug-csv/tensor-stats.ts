import { exactQuantiles } from '../../calibrate/quantile.js'

/** The distribution figures of one tensor the format's report_<round>.csv gives. */
export interface TensorStats {
  min: number
  q1: number
  median: number
  q3: number
  max: number
  mean: number
  /** The format's `Var` column holds a standard deviation (its own code computes sqrt(variance)). */
  std: number
  /** Share of exact zeros. */
  sparsity: number
  count: number
}

const QUARTILES = [0.25, 0.5, 0.75]

/**
 * Min, quartiles, max, mean, standard deviation and zero share; NaN entries are ignored.
 * `quantiles: false` leaves the quartiles NaN and costs one pass (what a ranking needs).
 */
export function tensorStats(values: Float32Array, options: { quantiles?: boolean } = {}): TensorStats {
  // One pass. The variance comes from sums of the values less the first number among them, so
  // that E[d^2] - E[d]^2 does not cancel away when the mean is large against the spread.
  let shift = NaN
  for (let i = 0; i < values.length && Number.isNaN(shift); i++) shift = values[i]!
  let n = 0
  let total = 0
  let sum = 0
  let sq = 0
  let zeros = 0
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!
    if (x !== x) continue // NaN
    n++
    total += x
    const d = x - shift
    sum += d
    sq += d * d
    if (x === 0) zeros++
    if (x < min) min = x
    if (x > max) max = x
  }
  const mean = n ? total / n : NaN
  const variance = n ? Math.max(0, sq / n - (sum / n) ** 2) : NaN
  const q = options.quantiles !== false && n > 0 ? exactQuantiles(values, QUARTILES) : [NaN, NaN, NaN]
  return {
    min: n ? min : NaN,
    q1: q[0]!,
    median: q[1]!,
    q3: q[2]!,
    max: n ? max : NaN,
    mean,
    std: Math.sqrt(variance),
    sparsity: n ? zeros / n : NaN,
    count: n,
  }
}

/**
 * The format's Clip: the share of original values outside the range the quantized tensor's
 * dequantized values span (its min..max), i.e. what the quantization range cut off.
 */
export function clipShare(origin: Float32Array, dequant: Float32Array): number {
  let lo = Infinity
  let hi = -Infinity
  for (let i = 0; i < dequant.length; i++) {
    const x = dequant[i]!
    if (x < lo) lo = x
    if (x > hi) hi = x
  }
  if (origin.length === 0) return 0
  let out = 0
  for (let i = 0; i < origin.length; i++) {
    const x = origin[i]!
    if (x < lo || x > hi) out++
  }
  return out / origin.length
}

/** Counts of `values` in `bins` equal bins over [lo, hi] (values outside land in the end bins). */
export function histogram(values: Float32Array, lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0)
  const width = hi > lo ? (hi - lo) / bins : 1
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!
    if (Number.isNaN(x)) continue
    const b = Math.floor((x - lo) / width)
    counts[b < 0 ? 0 : b >= bins ? bins - 1 : b]!++
  }
  return counts
}

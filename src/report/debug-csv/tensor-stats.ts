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

/** Quantile `p` of ascending `sorted` with linear interpolation between neighbours (numpy's default). */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length
  if (n === 0) return NaN
  const pos = p * (n - 1)
  const lo = Math.floor(pos)
  const hi = Math.min(n - 1, lo + 1)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo)
}

/**
 * Rearranges a[lo..hi] so that a[k] holds the value a sort would put there, everything before
 * it no greater and everything after no smaller (Hoare partition, median-of-three pivot).
 * Linear on average: sorting every tensor of a model for its quartiles took a minute on
 * PP-OCRv4 rec (53 M values per run), selecting takes seconds.
 */
function select(a: Float32Array, k: number, lo: number, hi: number): void {
  while (hi > lo) {
    const x = a[lo]!
    const y = a[(lo + hi) >>> 1]!
    const z = a[hi]!
    const pivot = x < y ? (y < z ? y : x < z ? z : x) : x < z ? x : y < z ? z : y
    let i = lo
    let j = hi
    while (i <= j) {
      while (a[i]! < pivot) i++
      while (a[j]! > pivot) j--
      if (i <= j) {
        const t = a[i]!
        a[i] = a[j]!
        a[j] = t
        i++
        j--
      }
    }
    if (k <= j) hi = j
    else if (k >= i) lo = i
    else return
  }
}

/** Quantiles of `a` (modified: partially ordered), ascending `ps`, numpy's linear interpolation. */
function quantilesInPlace(a: Float32Array, ps: readonly number[]): number[] {
  const n = a.length
  const out: number[] = []
  let from = 0
  for (const p of ps) {
    if (n === 0) {
      out.push(NaN)
      continue
    }
    const pos = p * (n - 1)
    const k = Math.floor(pos)
    select(a, k, from, n - 1)
    from = k
    let next = a[k]!
    if (pos > k) {
      // the next order statistic is the smallest value after k
      next = Infinity
      for (let i = k + 1; i < n; i++) if (a[i]! < next) next = a[i]!
    }
    out.push(a[k]! + (next - a[k]!) * (pos - k))
  }
  return out
}

/**
 * Min, quartiles, max, mean, standard deviation and zero share; NaN entries are ignored.
 * `quantiles: false` leaves the quartiles NaN and costs one pass (what a ranking needs).
 */
export function tensorStats(values: Float32Array, options: { quantiles?: boolean } = {}): TensorStats {
  let n = 0
  let sum = 0
  let zeros = 0
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!
    if (Number.isNaN(x)) continue
    n++
    sum += x
    if (x === 0) zeros++
    if (x < min) min = x
    if (x > max) max = x
  }
  const mean = n ? sum / n : NaN
  let sq = 0
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!
    if (Number.isNaN(x)) continue
    const d = x - mean
    sq += d * d
  }
  let q = [NaN, NaN, NaN]
  if (options.quantiles !== false && n > 0) {
    // a copy without NaN, partially ordered in place by the selections
    const copy = new Float32Array(n)
    let j = 0
    for (let i = 0; i < values.length; i++) if (!Number.isNaN(values[i]!)) copy[j++] = values[i]!
    q = quantilesInPlace(copy, [0.25, 0.5, 0.75])
  }
  return {
    min: n ? min : NaN,
    q1: q[0]!,
    median: q[1]!,
    q3: q[2]!,
    max: n ? max : NaN,
    mean,
    std: n ? Math.sqrt(sq / n) : NaN,
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

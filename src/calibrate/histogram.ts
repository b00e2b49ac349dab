/** Bins of the |x| histogram the KL method uses (TensorRT's entropy calibration). */
export const HISTOGRAM_BINS = 2048

// Integer counts of one call, added to the float histogram at the end. Two of them, taking
// alternate values: runs of values in one bin (activations crowd the low bins) would otherwise
// make each increment wait on the previous one's store. Module-level constants so the compiled
// loop knows their length and address (det's strided activations, bench/.out/kl: 1.6-1.9 ns a
// value; the same loop on counts allocated per call, or held in a `let`, 2.5-3.5 ns).
const COUNTS_EVEN = new Uint32Array(HISTOGRAM_BINS)
const COUNTS_ODD = new Uint32Array(HISTOGRAM_BINS)

/**
 * Add |x| of every `stride`-th value into `hist`, whose bins split [0, absMax] evenly; values
 * beyond absMax land in the last bin. NaN values are skipped.
 */
export function addAbsHistogram(hist: Float64Array, data: ArrayLike<number>, absMax: number, stride = 1): void {
  if (!(absMax > 0)) {
    // every value is 0: it all belongs in the first bin
    hist[0] += Math.ceil(data.length / stride)
    return
  }
  if (hist.length === HISTOGRAM_BINS) countAbs(hist, data, HISTOGRAM_BINS / absMax, stride)
  else countAbsAnyBins(hist, data, hist.length / absMax, stride)
}

/**
 * `hist` has HISTOGRAM_BINS bins. Math.abs rather than a sign test: the sign of activations is
 * a coin toss the branch predictor loses (1.3 ns a value more with the test); `x < last` first, as
 * nearly every value is in range, and `| 0` truncates a value known to be in [0, last).
 */
function countAbs(hist: Float64Array, data: ArrayLike<number>, scale: number, stride: number): void {
  const last = HISTOGRAM_BINS - 1
  const even = COUNTS_EVEN
  const odd = COUNTS_ODD
  let tail = 0
  const n = data.length
  let i = 0
  for (; i + stride < n; i += 2 * stride) {
    const x0 = Math.abs(data[i]!) * scale
    const x1 = Math.abs(data[i + stride]!) * scale
    // NaN fails both tests; +Infinity and the max itself go to the last bin
    if (x0 < last) even[x0 | 0]!++
    else if (x0 >= last) tail++
    if (x1 < last) odd[x1 | 0]!++
    else if (x1 >= last) tail++
  }
  if (i < n) {
    const x = Math.abs(data[i]!) * scale
    if (x < last) even[x | 0]!++
    else if (x >= last) tail++
  }
  for (let b = 0; b < HISTOGRAM_BINS; b++) {
    hist[b]! += even[b]! + odd[b]!
    even[b] = 0
    odd[b] = 0
  }
  hist[last]! += tail
}

/** countAbs for a histogram of another size (tests, other bin counts): same bins, plainer loop. */
function countAbsAnyBins(hist: Float64Array, data: ArrayLike<number>, scale: number, stride: number): void {
  const bins = hist.length
  const last = bins - 1
  const counts = new Uint32Array(bins)
  let tail = 0
  for (let i = 0; i < data.length; i += stride) {
    const x = Math.abs(data[i]!) * scale
    if (x < last) counts[x | 0]!++
    else if (x >= last) tail++
  }
  counts[last]! += tail
  for (let b = 0; b < bins; b++) hist[b]! += counts[b]!
}

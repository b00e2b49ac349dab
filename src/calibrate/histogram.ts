/** Bins of the |x| histogram the KL method uses (TensorRT's entropy calibration). */
export const HISTOGRAM_BINS = 2048

/**
 * Add |x| of every `stride`-th value into `hist`, whose bins split [0, absMax] evenly; values
 * beyond absMax land in the last bin. NaN values are skipped.
 */
export function addAbsHistogram(hist: Float64Array, data: ArrayLike<number>, absMax: number, stride = 1): void {
  const bins = hist.length
  if (!(absMax > 0)) {
    // every value is 0: it all belongs in the first bin
    hist[0] += Math.ceil(data.length / stride)
    return
  }
  const scale = bins / absMax
  const last = bins - 1
  // Integer counts, added to `hist` at the end: an integer increment and a truncating `| 0` on
  // a value known to be in [0, last) cost a third of Math.floor and a float increment per value
  // (det keeps ~5 M values a sample).
  const counts = new Uint32Array(bins)
  let tail = 0
  for (let i = 0; i < data.length; i += stride) {
    const v = data[i]!
    const x = (v < 0 ? -v : v) * scale
    // NaN fails both tests; +Infinity and the max itself go to the last bin
    if (x >= last) tail++
    else if (x >= 0) counts[x | 0]!++
  }
  counts[last]! += tail
  for (let b = 0; b < bins; b++) hist[b]! += counts[b]!
}

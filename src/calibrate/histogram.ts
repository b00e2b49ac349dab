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
  for (let i = 0; i < data.length; i += stride) {
    const v = data[i]!
    const b = Math.floor((v < 0 ? -v : v) * scale)
    if (b >= 0) hist[b > last ? last : b]++
  }
}

/** Quantized levels the candidate distribution is squeezed into (int8 magnitudes). */
export const QUANTIZED_BINS = 128

/**
 * Probability given to a bin where the candidate Q is empty but the reference P is not (the
 * folded tail landing in an empty stretch of bins): it keeps the divergence finite and large.
 */
export const EMPTY_BIN_PROBABILITY = 1e-12

/**
 * TensorRT's entropy calibration on an |x| histogram (the reference in the GTC 2017 talk the
 * format cites: `for i in range(128, 2048)`, threshold `(m + 0.5) * bin width`). For each
 * candidate i from 128 to the number of bins - 1: the reference P is bins [0, i) with the mass
 * of the bins beyond folded into bin i-1; the candidate Q is bins [0, i) merged into 128 levels
 * (floor(i / 128) bins each, the remainder in the last level), each level's mass spread evenly
 * over its bins where P is non-empty; both normalized, Q given EMPTY_BIN_PROBABILITY where it is
 * empty and P is not. Returns the i of least KL(P || Q) (the first on ties); the threshold is
 * T = (i + 0.5) * bin width (klThreshold).
 *
 * Q is constant over the non-empty bins of a level, so KL(P || Q) = sum p log p - sum over
 * levels of (P's mass in the level) log q_level; with prefix sums of h, h log h and of non-empty
 * bins each candidate costs 128 steps instead of i, which makes KL on a few hundred tensors
 * cost milliseconds each rather than tens.
 */
export function klThresholdBin(hist: ArrayLike<number>, quantizedBins = QUANTIZED_BINS): number {
  const d = klDivergences(hist, quantizedBins)
  let best = hist.length - 1
  let bestDivergence = Infinity
  for (let i = quantizedBins; i < hist.length; i++) {
    if (d[i]! < bestDivergence) {
      bestDivergence = d[i]!
      best = i
    }
  }
  return best
}

/**
 * KL(P || Q) of each candidate threshold i (index i, from `quantizedBins` to the number of
 * bins; lower indices and an empty histogram are Infinity), as klThresholdBin defines P and Q.
 * Index `bins` (nothing folded) is computed too, though the reference never chooses it.
 */
export function klDivergences(hist: ArrayLike<number>, quantizedBins = QUANTIZED_BINS): Float64Array {
  const bins = hist.length
  const out = new Float64Array(bins + 1).fill(Infinity)
  if (bins <= quantizedBins) return out
  const mass = new Float64Array(bins + 1) // mass[b] = sum of hist[0, b)
  const hLogH = new Float64Array(bins + 1)
  const nonEmpty = new Int32Array(bins + 1)
  for (let b = 0; b < bins; b++) {
    const h = hist[b]!
    mass[b + 1] = mass[b]! + h
    hLogH[b + 1] = hLogH[b]! + (h > 0 ? h * Math.log(h) : 0)
    nonEmpty[b + 1] = nonEmpty[b]! + (h > 0 ? 1 : 0)
  }
  const total = mass[bins]!
  if (!(total > 0)) return out
  const logTotal = Math.log(total)
  const logEmpty = Math.log(EMPTY_BIN_PROBABILITY)
  for (let i = quantizedBins; i <= bins; i++) {
    const last = hist[i - 1]!
    const pLast = last + (total - mass[i]!) // bin i-1 with the tail folded in
    // sum over P's non-empty bins of p log p, p normalized by total
    const pLogP = (hLogH[i - 1]! + (pLast > 0 ? pLast * Math.log(pLast) : 0)) / total - logTotal
    const qTotal = mass[i]!
    const merged = Math.floor(i / quantizedBins)
    let cross = 0 // sum over P's non-empty bins of p log q
    for (let level = 0; level < quantizedBins; level++) {
      const start = level * merged
      const stop = level === quantizedBins - 1 ? i : start + merged
      const levelMass = mass[stop]! - mass[start]!
      let levelP = levelMass
      let kept = nonEmpty[stop]! - nonEmpty[start]!
      if (stop === i) {
        // bin i-1 is P's folded bin: it may be non-empty in P while empty in the histogram
        levelP += pLast - last
        if (last === 0 && pLast > 0) kept++
      }
      if (levelP === 0) continue
      const logQ = levelMass > 0 && qTotal > 0 ? Math.log(levelMass / kept / qTotal) : logEmpty
      cross += (levelP / total) * logQ
    }
    out[i] = pLogP - cross
  }
  return out
}

/** The KL range: symmetric [-T, T] with T = (i + 0.5) * bin width for the chosen i, at most absMax. */
export function klThreshold(hist: ArrayLike<number>, absMax: number): number {
  const i = klThresholdBin(hist)
  return Math.min(absMax, ((i + 0.5) * absMax) / hist.length)
}

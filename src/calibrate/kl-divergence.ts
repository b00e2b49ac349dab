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
 * levels of (P's mass in the level) log q_level, and prefix sums of h, h log h and of non-empty
 * bins give each level in O(1). Every level but the last spans the same bins for all candidates
 * with the same floor(i / 128), and P there is the histogram itself: their sum of
 * m log(m / nonEmpty) is computed once per bin width (16 for 2048 bins), and log q = log(m /
 * nonEmpty) - log(mass of Q) splits it off the candidate, so a candidate costs its last level
 * only (det's 122 tensors: 0.3 ms a histogram instead of 8 with 128 levels a candidate).
 *
 * The two ways of summing round differently (1e-16 to 1e-14). That matters only among
 * candidates whose divergences are mathematically equal, which sparse histograms (a pooled
 * [1, C, 1, 1] tensor: a few dozen values) have in runs, at 0 or at one value: the candidates
 * within NEAR_TIE of the least are compared again level by level (levelDivergence), as the
 * choice was made before the per-width sums, so the threshold is the one it always was.
 */
export function klThresholdBin(hist: ArrayLike<number>, quantizedBins = QUANTIZED_BINS): number {
  const bins = hist.length
  const sums = prefixSums(hist)
  if (bins <= quantizedBins || !(sums.total > 0)) return bins - 1
  const d = divergences(hist, sums, quantizedBins)
  let least = Infinity
  for (let i = quantizedBins; i < bins; i++) if (d[i]! < least) least = d[i]!
  let best = bins - 1
  let bestDivergence = Infinity
  for (let i = quantizedBins; i < bins; i++) {
    if (!(d[i]! <= least + NEAR_TIE)) continue
    const e = levelDivergence(hist, sums, quantizedBins, i)
    if (e < bestDivergence) {
      bestDivergence = e
      best = i
    }
  }
  return best
}

/**
 * Candidates whose divergences by the per-width sums are this close to the least are settled
 * level by level: far above the two summations' rounding differences (below 1e-13 for any
 * histogram of up to 2^53 values), far below real differences between candidates.
 */
export const NEAR_TIE = 1e-9

/**
 * KL(P || Q) of each candidate threshold i (index i, from `quantizedBins` to the number of
 * bins; lower indices and an empty histogram are Infinity), as klThresholdBin defines P and Q.
 * Index `bins` (nothing folded) is computed too, though the reference never chooses it.
 */
export function klDivergences(hist: ArrayLike<number>, quantizedBins = QUANTIZED_BINS): Float64Array {
  const bins = hist.length
  const sums = prefixSums(hist)
  if (bins <= quantizedBins || !(sums.total > 0)) return new Float64Array(bins + 1).fill(Infinity)
  return divergences(hist, sums, quantizedBins)
}

interface PrefixSums {
  /** mass[b] = sum of hist[0, b) */
  mass: Float64Array
  /** sum of h log h over hist[0, b) */
  hLogH: Float64Array
  /** non-empty bins among hist[0, b) */
  nonEmpty: Int32Array
  total: number
}

function prefixSums(hist: ArrayLike<number>): PrefixSums {
  const bins = hist.length
  const mass = new Float64Array(bins + 1)
  const hLogH = new Float64Array(bins + 1)
  const nonEmpty = new Int32Array(bins + 1)
  for (let b = 0; b < bins; b++) {
    const h = hist[b]!
    mass[b + 1] = mass[b]! + h
    hLogH[b + 1] = hLogH[b]! + (h > 0 ? h * Math.log(h) : 0)
    nonEmpty[b + 1] = nonEmpty[b]! + (h > 0 ? 1 : 0)
  }
  return { mass, hLogH, nonEmpty, total: mass[bins]! }
}

/** P's folded bin i-1 and the sum over P's non-empty bins of p log p, p normalized by total. */
function foldedP(hist: ArrayLike<number>, { mass, hLogH, total }: PrefixSums, i: number): { last: number; pLast: number; pLogP: number } {
  const last = hist[i - 1]!
  const pLast = last + (total - mass[i]!) // bin i-1 with the tail folded in
  const pLogP = (hLogH[i - 1]! + (pLast > 0 ? pLast * Math.log(pLast) : 0)) / total - Math.log(total)
  return { last, pLast, pLogP }
}

/** Every candidate's divergence, the levels before the last summed once per bin width. */
function divergences(hist: ArrayLike<number>, sums: PrefixSums, quantizedBins: number): Float64Array {
  const bins = hist.length
  const { mass, nonEmpty, total } = sums
  const out = new Float64Array(bins + 1).fill(Infinity)
  const logEmpty = Math.log(EMPTY_BIN_PROBABILITY)
  const lastLevel = quantizedBins - 1
  // per bin width w: sum over the levels before the last of m log(m / nonEmpty), m their mass
  const widths = Math.floor(bins / quantizedBins)
  const head = new Float64Array(widths + 1)
  for (let w = 1; w <= widths; w++) {
    let sum = 0
    for (let level = 0; level < lastLevel; level++) {
      const start = level * w
      const m = mass[start + w]! - mass[start]!
      if (m > 0) sum += m * Math.log(m / (nonEmpty[start + w]! - nonEmpty[start]!))
    }
    head[w] = sum
  }
  for (let i = quantizedBins; i <= bins; i++) {
    const { last, pLast, pLogP } = foldedP(hist, sums, i)
    const qTotal = mass[i]!
    const w = Math.floor(i / quantizedBins)
    const start = lastLevel * w
    // the levels before the last: P's mass there is Q's, mass[start] in all
    const headMass = mass[start]!
    let cross = headMass > 0 ? (head[w]! - headMass * Math.log(qTotal)) / total : 0 // sum over P's non-empty bins of p log q
    // the last level, bins [start, i), holds P's folded bin i-1, which may be non-empty in P
    // while empty in the histogram
    const levelMass = qTotal - headMass
    const levelP = levelMass + (pLast - last)
    if (levelP !== 0) {
      const kept = nonEmpty[i]! - nonEmpty[start]! + (last === 0 && pLast > 0 ? 1 : 0)
      const logQ = levelMass > 0 && qTotal > 0 ? Math.log(levelMass / kept / qTotal) : logEmpty
      cross += (levelP / total) * logQ
    }
    out[i] = pLogP - cross
  }
  return out
}

/** Candidate i's divergence summed level by level (128 logs): how ties have always been settled. */
function levelDivergence(hist: ArrayLike<number>, sums: PrefixSums, quantizedBins: number, i: number): number {
  const { mass, nonEmpty, total } = sums
  const logEmpty = Math.log(EMPTY_BIN_PROBABILITY)
  const { last, pLast, pLogP } = foldedP(hist, sums, i)
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
  return pLogP - cross
}

/** The KL range: symmetric [-T, T] with T = (i + 0.5) * bin width for the chosen i, at most absMax. */
export function klThreshold(hist: ArrayLike<number>, absMax: number): number {
  const i = klThresholdBin(hist)
  return Math.min(absMax, ((i + 0.5) * absMax) / hist.length)
}

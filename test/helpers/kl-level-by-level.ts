// The KL threshold search as src/calibrate/kl-divergence.ts did it before it summed per bin
// width: the reference its faster search must agree with (test/calibration-stats.test.ts) and
// the "before" side of bench/calibration.ts's side-by-side timing.

/**
 * The KL search summing each candidate's 128 levels from prefix sums, strict least, first on
 * equal values: how src/calibrate/kl-divergence.ts chose before it summed per bin width.
 */
export function levelByLevelKlBin(hist: ArrayLike<number>): number {
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
  const total = mass[bins]!
  let best = bins - 1
  let bestDivergence = Infinity
  for (let i = 128; i < bins; i++) {
    const last = hist[i - 1]!
    const pLast = last + (total - mass[i]!)
    const pLogP = (hLogH[i - 1]! + (pLast > 0 ? pLast * Math.log(pLast) : 0)) / total - Math.log(total)
    const qTotal = mass[i]!
    const merged = Math.floor(i / 128)
    let cross = 0
    for (let level = 0; level < 128; level++) {
      const start = level * merged
      const stop = level === 127 ? i : start + merged
      const levelMass = mass[stop]! - mass[start]!
      let levelP = levelMass
      let kept = nonEmpty[stop]! - nonEmpty[start]!
      if (stop === i) {
        levelP += pLast - last
        if (last === 0 && pLast > 0) kept++
      }
      if (levelP === 0) continue
      const logQ = levelMass > 0 && qTotal > 0 ? Math.log(levelMass / kept / qTotal) : Math.log(1e-12)
      cross += (levelP / total) * logQ
    }
    if (pLogP - cross < bestDivergence) {
      bestDivergence = pLogP - cross
      best = i
    }
  }
  return best
}

/**
 * Running global minimum and maximum of a tensor's finite values over calibration samples
 * (MAX_MIN). An infinity cannot be on an int8 grid: a -inf mask value would stretch the range
 * to nothing useful, so only finite values count and `nonFinite` records that others were seen.
 */
export class MaxMinStat {
  min = Infinity
  max = -Infinity
  /** A sample reduced elsewhere had a non-finite extreme: its finite ones are unknown. */
  nonFinite = false

  /** Fold a sample's already-reduced minimum and maximum in. */
  addExtremes(min: number, max: number): void {
    if (!Number.isFinite(min) || !Number.isFinite(max)) {
      this.nonFinite = true
      return
    }
    if (min < this.min) this.min = min
    if (max > this.max) this.max = max
  }

  /** Fold a sample's values in; NaN and ±Infinity are left out (and noted in `nonFinite`). */
  add(data: ArrayLike<number>): void {
    const [min, max, skipped] = finiteMinMax(data)
    if (skipped) this.nonFinite = true
    if (min < this.min) this.min = min
    if (max > this.max) this.max = max
  }
}

/** Minimum and maximum of the finite values ([Infinity, -Infinity] when there are none), and whether any value was not finite. */
function finiteMinMax(data: ArrayLike<number>): [number, number, boolean] {
  let min = Infinity
  let max = -Infinity
  let skipped = false
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!
    // v - v is 0 for a finite value, NaN for NaN and ±Infinity
    if (v - v !== 0) {
      skipped = true
      continue
    }
    if (v < min) min = v
    if (v > max) max = v
  }
  return [min, max, skipped]
}

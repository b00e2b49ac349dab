import { quantileInPlace } from './quantile.js'

/** The share cut from each end of a sample's values (0.01%). */
export const OUTLIER_SHARE = 0.0001

/**
 * REMOVAL_OUTLIER: per sample, the 0.01% and 99.99% quantiles of the tensor's values; the range
 * is their average over samples.
 */
export class RemovalOutlierStat {
  private lowSum = 0
  private highSum = 0
  private samples = 0
  private scratch = new Float32Array(0)
  /** Some value was NaN or ±Infinity (left out here; quantiles from elsewhere that were are dropped). */
  nonFinite = false

  /** Fold in one sample's values: the quantiles of its finite values (an infinity has no place on an int8 grid). */
  add(data: ArrayLike<number>): void {
    if (this.scratch.length < data.length) this.scratch = new Float32Array(data.length)
    let n = 0
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!
      // v - v is 0 for a finite value, NaN for NaN and ±Infinity
      if (v - v === 0) this.scratch[n++] = v
      else this.nonFinite = true
    }
    if (n === 0) return
    const s = this.scratch.subarray(0, n)
    this.addQuantiles(quantileInPlace(s, OUTLIER_SHARE), quantileInPlace(s, 1 - OUTLIER_SHARE))
  }

  /** Fold in one sample's quantiles computed elsewhere (in the graph); non-finite ones are not folded but noted. */
  addQuantiles(low: number, high: number): void {
    if (!Number.isFinite(low) || !Number.isFinite(high)) {
      this.nonFinite = true
      return
    }
    this.lowSum += low
    this.highSum += high
    this.samples++
  }

  /** Drop the scratch buffer once every sample is in. */
  release(): void {
    this.scratch = new Float32Array(0)
  }

  get min(): number {
    return this.samples ? this.lowSum / this.samples : Infinity
  }

  get max(): number {
    return this.samples ? this.highSum / this.samples : -Infinity
  }
}

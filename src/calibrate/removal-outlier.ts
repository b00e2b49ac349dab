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

  add(data: ArrayLike<number>): void {
    const n = data.length
    if (n === 0) return
    if (this.scratch.length < n) this.scratch = new Float32Array(n)
    const s = this.scratch.subarray(0, n)
    s.set(data)
    this.addQuantiles(quantileInPlace(s, OUTLIER_SHARE), quantileInPlace(s, 1 - OUTLIER_SHARE))
  }

  /** Fold in one sample's quantiles computed elsewhere (in the graph). */
  addQuantiles(low: number, high: number): void {
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

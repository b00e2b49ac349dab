/** Bins of each side's histogram the KL method uses (TensorRT's entropy calibration). */
export const HISTOGRAM_BINS = 2048

/**
 * A tensor's values in 2 x 2048 bins of one width w: bins [2048, 4096) hold x in [0, 2048 w)
 * from 0 up, bins [0, 2048) hold x in [-2048 w, 0) from 0 down. TensorRT's |x| histogram is
 * the two halves added (`abs`); a side alone (`side`) tells how far that sign reaches, so a
 * range can be cut to it.
 *
 * Built in one pass: the width is set by the first sample with a non-zero value (its largest
 * |x| lands in the top bin of its side) and doubles whenever a later value falls outside,
 * merging bin pairs. That is exact for the counts already gathered (bin b of width 2w holds
 * bins 2b and 2b+1 of width w), so the result is the histogram of every value at the final
 * width, which is 1 to 2 times the max / 2048 a first pass over every sample's maximum gives.
 *
 * Exact zeros are left out, as MindSpore Lite's KL leaves them out: zero is exact on the grid,
 * and a Relu's or a gate's spike of zeros makes every merge of the first bin look costly, which
 * pulls the threshold down to where bins are not merged at all (PP-OCRv4 rec's
 * squeeze-excitation Relus, 65-75% zeros: 1/8 of their maximum, and empty text). NaN is skipped.
 */
export class SignedHistogram {
  readonly counts = new Float64Array(2 * HISTOGRAM_BINS)
  /** Bin width; 0 until a non-zero value is seen. */
  width = 0

  /** A histogram whose width is fixed to max|x| / 2048 beforehand, as a first pass over every sample would set it. */
  static spanning(absMax: number): SignedHistogram {
    const h = new SignedHistogram()
    h.cover(absMax)
    return h
  }

  /** Widen (doubling) until |value| < 2048 w; the first non-zero value sets w = |value| / 2048 (and HEADROOM). */
  cover(absValue: number): void {
    if (!(absValue > 0) || absValue === Infinity) return
    if (this.width === 0) {
      this.width = (absValue / HISTOGRAM_BINS) * HEADROOM
      return
    }
    while (absValue >= HISTOGRAM_BINS * this.width) this.double()
  }

  private double(): void {
    const c = this.counts
    const n = HISTOGRAM_BINS
    const half = n / 2
    // positive side: bins n + b, from 0 up
    for (let b = 0; b < half; b++) c[n + b] = c[n + 2 * b]! + c[n + 2 * b + 1]!
    c.fill(0, n + half)
    // negative side: bins n - 1 - b, from 0 down
    for (let b = 0; b < half; b++) c[n - 1 - b] = c[n - 1 - 2 * b]! + c[n - 2 - 2 * b]!
    c.fill(0, 0, half)
    this.width *= 2
  }

  /** One side's 2048 bins from 0 outwards (a copy). */
  side(positive: boolean): Float64Array {
    if (positive) return this.counts.slice(HISTOGRAM_BINS)
    return this.counts.slice(0, HISTOGRAM_BINS).reverse()
  }

  /** TensorRT's |x| histogram: both sides added. */
  abs(): Float64Array {
    const pos = this.side(true)
    const neg = this.side(false)
    for (let b = 0; b < HISTOGRAM_BINS; b++) pos[b]! += neg[b]!
    return pos
  }

  /**
   * Add every `stride`-th value of `data`. The bin is a single expression of x (no sign test:
   * activations' signs are a coin toss the branch predictor loses); zeros are counted from the
   * float's bits without a branch and taken back out of the bin they land in.
   */
  add(data: Float32Array, stride = 1): void {
    const n = data.length
    if (n === 0) return
    if (this.width === 0) {
      let m = 0
      for (let i = 0; i < n; i += stride) {
        const a = Math.abs(data[i]!)
        if (a > m && a !== Infinity) m = a
      }
      this.cover(m)
      if (this.width === 0) return // nothing but zeros (or NaN, ±Infinity) so far
    }
    const counts = COUNTS
    const bits = new Int32Array(data.buffer, data.byteOffset, n)
    const scale = 1 / this.width
    const top = 2 * HISTOGRAM_BINS
    const last = top - 1
    let zeros = 0
    let outside: number[] | null = null
    for (let i = 0; i < n; i += stride) {
      const z = bits[i]! << 1 // 0 for +0 and -0 only
      zeros += ((z | -z) >>> 31) ^ 1
      const y = data[i]! * scale + HISTOGRAM_BINS
      if (y >= 0 && y < top) counts[y | 0]!++
      else if (y >= top || y < 0) (outside ??= []).push(data[i]!)
    }
    counts[HISTOGRAM_BINS]! -= zeros
    const c = this.counts
    for (let b = 0; b < top; b++) {
      c[b]! += counts[b]!
      counts[b] = 0
    }
    if (outside) {
      // past the top on either side (±Infinity included): widen, then bin them at the new width
      let m = 0
      for (const v of outside) if (Math.abs(v) > m && Math.abs(v) !== Infinity) m = Math.abs(v)
      this.cover(m)
      const s = 1 / this.width
      for (const v of outside) {
        const y = v * s + HISTOGRAM_BINS
        c[y >= last ? last : y <= 0 ? 0 : y | 0]!++
      }
    }
  }
}

/**
 * The first width is max|x| / 2048 times this, so the largest value lies inside the top bin
 * rather than on its edge: bins are [b w, (b+1) w) above zero and (b w, (b+1) w] below, every
 * value lands in its bin without clamping, and merging pairs gives exactly the bins of the
 * doubled width.
 */
const HEADROOM = 1 + 2 ** -20

// Integer counts of one call, added to the float histogram at the end: module-level, so the
// compiled loop knows their length and address (bench/.out/kl: counts allocated per call or
// held in a `let` made the loop 1.5-2x slower).
const COUNTS = new Int32Array(2 * HISTOGRAM_BINS)

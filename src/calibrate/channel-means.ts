import { firstNonFiniteIn } from '../runtime/non-finite.js'

/**
 * The largest and smallest channel mean of a tensor over calibration samples: how far a whole
 * channel sits from zero, not a rare value. KL's threshold treats what lies beyond it as a tail
 * of outliers; a channel whose mean is beyond it is not a tail but a signal, and clipping it
 * shifts the whole channel (PP-OCRv4 rec: one channel of a squeeze-excitation product sits near
 * 2.6 at every position, KL put the threshold at 1.3, and text came out empty). The KL range is
 * widened to cover these means.
 *
 * Channels are axis 1 (NCHW feature maps, [N, C] rows) and, for rank 3, the last axis as well
 * ([N, T, C] sequences); the values may be every `stride`-th of the flattened tensor.
 */
export class ChannelMeanExtremes {
  /** Largest channel mean seen (0 when none was positive). */
  max = 0
  /** Smallest channel mean seen (0 when none was negative). */
  min = 0
  /**
   * Some value was NaN or ±Infinity: a channel's float64 sum of finite float32 values cannot
   * overflow, so a sum that is not finite holds one (KL's warning learns it without another pass).
   */
  nonFinite = false

  /** Fold in one sample: `data` holds elements 0, stride, 2 stride, … of a tensor of shape `dims`. */
  add(data: Float32Array, dims: readonly number[], stride = 1): void {
    const total = dims.reduce((a, d) => a * d, 1)
    if (dims.length < 2 || total === 0 || data.length === 0 || data.length !== Math.ceil(total / stride)) {
      if (!this.nonFinite && firstNonFiniteIn(data) >= 0) this.nonFinite = true
      return
    }
    this.addAxis(data, dims, stride, 1)
    if (dims.length === 3) this.addAxis(data, dims, stride, 2)
  }

  private addAxis(data: Float32Array, dims: readonly number[], stride: number, axis: number): void {
    const channels = dims[axis]!
    let inner = 1
    for (let a = axis + 1; a < dims.length; a++) inner *= dims[a]!
    const sums = new Float64Array(channels)
    const counts = new Float64Array(channels)
    const n = data.length
    if (inner >= stride) {
      // element e is in channel floor(e / inner) % channels: runs of `inner` elements, each
      // holding at least one kept value; kept value k is element k * stride
      const blocks = Math.ceil((n * stride) / inner)
      for (let b = 0, k = 0; b < blocks; b++) {
        const end = Math.min(n, Math.ceil(((b + 1) * inner) / stride))
        let s = 0
        const from = k
        for (; k < end; k++) s += data[k]!
        const c = b % channels
        sums[c]! += s
        counts[c]! += k - from
      }
    } else {
      for (let k = 0; k < n; k++) {
        const c = Math.floor((k * stride) / inner) % channels
        sums[c]! += data[k]!
        counts[c]!++
      }
    }
    for (let c = 0; c < channels; c++) {
      if (!(counts[c]! > 0)) continue
      const m = sums[c]! / counts[c]!
      if (!Number.isFinite(m)) {
        this.nonFinite = true
        continue
      }
      if (m > this.max) this.max = m
      if (m < this.min) this.min = m
    }
  }
}

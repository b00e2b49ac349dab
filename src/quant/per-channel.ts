/** Integer codes of one tensor with one scale and zero point per slice along `axis`. */
export interface ChannelQuantized {
  codes: Int8Array | Int16Array
  scale: Float32Array
  zeroPoint: Int32Array
  axis: number
  bits: number
  qmin: number
  qmax: number
}

/** Split dims around an axis: index = (o * channels + c) * inner + i. */
export function axisLayout(dims: readonly number[], axis: number): { outer: number; channels: number; inner: number } {
  let outer = 1
  let inner = 1
  for (let i = 0; i < axis; i++) outer *= dims[i]!
  for (let i = axis + 1; i < dims.length; i++) inner *= dims[i]!
  return { outer, channels: dims[axis] ?? 1, inner }
}

/**
 * Per-channel asymmetric (or symmetric) linear quantization to signed `bits`-bit codes.
 * Each channel's range is widened to include 0 so that exact zeros (pruned weights, padding)
 * stay exact, as the format's reference quantizer does.
 */
export function quantizePerChannel(values: Float32Array, dims: readonly number[], axis: number, bits: number, symmetric: boolean): ChannelQuantized {
  const { outer, channels, inner } = axisLayout(dims, axis)
  const qmin = -(2 ** (bits - 1))
  const qmax = 2 ** (bits - 1) - 1
  const lo = new Float64Array(channels).fill(0)
  const hi = new Float64Array(channels).fill(0)
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner
      let mn = lo[c]!
      let mx = hi[c]!
      for (let i = 0; i < inner; i++) {
        const v = values[base + i]!
        if (v < mn) mn = v
        if (v > mx) mx = v
      }
      lo[c] = mn
      hi[c] = mx
    }
  }
  const scale = new Float32Array(channels)
  const zeroPoint = new Int32Array(channels)
  for (let c = 0; c < channels; c++) {
    let mn = lo[c]!
    let mx = hi[c]!
    if (!Number.isFinite(mn) || !Number.isFinite(mx)) throw new RangeError(`channel ${c} holds a non-finite value`)
    if (symmetric) {
      const m = Math.max(-mn, mx)
      mn = -m
      mx = m
    }
    // symmetric codes use the range [-(2^(b-1) - 1), 2^(b-1) - 1] so that zero is the midpoint
    const levels = symmetric ? (qmax - qmin - 1) : (qmax - qmin)
    const s = mx > mn ? (mx - mn) / levels : 1
    scale[c] = s
    const zp = symmetric ? 0 : Math.round(qmin - mn / Math.fround(s))
    zeroPoint[c] = Math.min(qmax, Math.max(qmin, zp))
  }
  const codes = bits <= 8 ? new Int8Array(values.length) : new Int16Array(values.length)
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner
      const inv = 1 / scale[c]!
      const zp = zeroPoint[c]!
      for (let i = 0; i < inner; i++) {
        let q = Math.round(values[base + i]! * inv) + zp
        if (q < qmin) q = qmin
        else if (q > qmax) q = qmax
        codes[base + i] = q
      }
    }
  }
  return { codes, scale, zeroPoint, axis, bits, qmin, qmax }
}

/** The float values the codes stand for, computed in float32 exactly as the ONNX graph does. */
export function dequantizePerChannel(q: ChannelQuantized, dims: readonly number[]): Float32Array {
  const { outer, channels, inner } = axisLayout(dims, q.axis)
  const out = new Float32Array(q.codes.length)
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner
      const s = q.scale[c]!
      const zp = q.zeroPoint[c]!
      for (let i = 0; i < inner; i++) out[base + i] = Math.fround(Math.fround(q.codes[base + i]! - zp) * s)
    }
  }
  return out
}

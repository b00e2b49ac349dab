/** Integer codes of one tensor with one scale and zero point per slice along `axis`. */
export interface ChannelQuantized {
  codes: Int8Array | Int16Array
  /** The plain linear-quantization step and integer zero point of each channel. */
  scale: Float32Array
  zeroPoint: Int32Array
  axis: number
  bits: number
  qmin: number
  qmax: number
}

/** Per-channel sums gathered while quantizing, from which the correction and error follow exactly. */
export interface ChannelSums {
  n: number
  sumW: Float64Array
  sumW2: Float64Array
  sumQ: Float64Array
  sumQ2: Float64Array
  sumWQ: Float64Array
}

/** Split dims around an axis: index = (o * channels + c) * inner + i. */
export function axisLayout(dims: readonly number[], axis: number): { outer: number; channels: number; inner: number } {
  let outer = 1
  let inner = 1
  for (let i = 0; i < axis; i++) outer *= dims[i]!
  for (let i = axis + 1; i < dims.length; i++) inner *= dims[i]!
  return { outer, channels: dims[axis] ?? 1, inner }
}

function channelRanges(values: Float32Array, outer: number, channels: number, inner: number): { lo: Float64Array; hi: Float64Array } {
  // start at 0 so each range includes zero: exact zeros (pruned weights) stay exact
  const lo = new Float64Array(channels)
  const hi = new Float64Array(channels)
  if (inner === 1) {
    // channel is the last axis (MatMul, Gemm): walk each column with a stride; neighbouring
    // columns share cache lines, so this stays in L1 and keeps the running values in registers
    for (let c = 0; c < channels; c++) {
      let mn = 0
      let mx = 0
      for (let k = c; k < values.length; k += channels) {
        const v = values[k]!
        if (v < mn) mn = v
        else if (v > mx) mx = v
      }
      lo[c] = mn
      hi[c] = mx
    }
    return { lo, hi }
  }
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner
      let mn = lo[c]!
      let mx = hi[c]!
      for (let i = 0; i < inner; i++) {
        const v = values[base + i]!
        if (v < mn) mn = v
        else if (v > mx) mx = v
      }
      lo[c] = mn
      hi[c] = mx
    }
  }
  return { lo, hi }
}

/**
 * Per-channel asymmetric (or symmetric) linear quantization to signed `bits`-bit codes, in two
 * passes over the values: channel ranges, then codes together with the sums the mean/variance
 * correction and the error need (so neither costs another pass).
 */
export function quantizePerChannel(values: Float32Array, dims: readonly number[], axis: number, bits: number, symmetric: boolean): { q: ChannelQuantized; sums: ChannelSums } {
  const { outer, channels, inner } = axisLayout(dims, axis)
  const qmin = -(2 ** (bits - 1))
  const qmax = 2 ** (bits - 1) - 1
  const { lo, hi } = channelRanges(values, outer, channels, inner)
  const scale = new Float32Array(channels)
  const inv = new Float64Array(channels)
  const zeroPoint = new Int32Array(channels)
  for (let c = 0; c < channels; c++) {
    let mn = lo[c]!
    let mx = hi[c]!
    if (!Number.isFinite(mn) || !Number.isFinite(mx) || Number.isNaN(mn + mx)) throw new RangeError(`channel ${c} holds a non-finite value`)
    if (symmetric) {
      const m = Math.max(-mn, mx)
      mn = -m
      mx = m
    }
    // symmetric codes use [-(2^(b-1) - 1), 2^(b-1) - 1] so that zero is the midpoint
    const levels = symmetric ? qmax - qmin - 1 : qmax - qmin
    const s = mx > mn ? Math.fround((mx - mn) / levels) : 1
    scale[c] = s
    inv[c] = 1 / s
    const zp = symmetric ? 0 : Math.round(qmin - mn / s)
    zeroPoint[c] = zp < qmin ? qmin : zp > qmax ? qmax : zp
  }
  const sums: ChannelSums = {
    n: outer * inner,
    sumW: new Float64Array(channels), sumW2: new Float64Array(channels),
    sumQ: new Float64Array(channels), sumQ2: new Float64Array(channels), sumWQ: new Float64Array(channels),
  }
  const codes = bits <= 8 ? new Int8Array(values.length) : new Int16Array(values.length)
  if (codes instanceof Int8Array) encodeCodes8(values, codes, outer, channels, inner, inv, zeroPoint, qmin, qmax, sums)
  else encodeCodes16(values, codes, outer, channels, inner, inv, zeroPoint, qmin, qmax, sums)
  return { q: { codes, scale, zeroPoint, axis, bits, qmin, qmax }, sums }
}

// Two copies of one loop, so that each stays monomorphic in its typed-array store (a shared
// function over Int8Array | Int16Array ran ~15x slower).
function encodeCodes8(values: Float32Array, codes: Int8Array, outer: number, channels: number, inner: number, inv: Float64Array, zeroPoint: Int32Array, qmin: number, qmax: number, sums: ChannelSums): void {
  const { sumW, sumW2, sumQ, sumQ2, sumWQ } = sums
  if (inner === 1) {
    for (let c = 0; c < channels; c++) {
      const k = inv[c]!
      const zp = zeroPoint[c]!
      let sw = 0, sw2 = 0, sq = 0, sq2 = 0, swq = 0
      for (let i = c; i < values.length; i += channels) {
        const w = values[i]!
        let q = Math.floor(w * k + 0.5) + zp
        q = q < qmin ? qmin : q > qmax ? qmax : q
        codes[i] = q
        sw += w
        sw2 += w * w
        sq += q
        sq2 += q * q
        swq += w * q
      }
      sumW[c] = sw
      sumW2[c] = sw2
      sumQ[c] = sq
      sumQ2[c] = sq2
      sumWQ[c] = swq
    }
    return
  }
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner
      const k = inv[c]!
      const zp = zeroPoint[c]!
      let sw = 0, sw2 = 0, sq = 0, sq2 = 0, swq = 0
      for (let i = 0; i < inner; i++) {
        const w = values[base + i]!
        let q = Math.floor(w * k + 0.5) + zp
        q = q < qmin ? qmin : q > qmax ? qmax : q
        codes[base + i] = q
        sw += w
        sw2 += w * w
        sq += q
        sq2 += q * q
        swq += w * q
      }
      sumW[c]! += sw
      sumW2[c]! += sw2
      sumQ[c]! += sq
      sumQ2[c]! += sq2
      sumWQ[c]! += swq
    }
  }
}

function encodeCodes16(values: Float32Array, codes: Int16Array, outer: number, channels: number, inner: number, inv: Float64Array, zeroPoint: Int32Array, qmin: number, qmax: number, sums: ChannelSums): void {
  const { sumW, sumW2, sumQ, sumQ2, sumWQ } = sums
  if (inner === 1) {
    for (let c = 0; c < channels; c++) {
      const k = inv[c]!
      const zp = zeroPoint[c]!
      let sw = 0, sw2 = 0, sq = 0, sq2 = 0, swq = 0
      for (let i = c; i < values.length; i += channels) {
        const w = values[i]!
        let q = Math.floor(w * k + 0.5) + zp
        q = q < qmin ? qmin : q > qmax ? qmax : q
        codes[i] = q
        sw += w
        sw2 += w * w
        sq += q
        sq2 += q * q
        swq += w * q
      }
      sumW[c] = sw
      sumW2[c] = sw2
      sumQ[c] = sq
      sumQ2[c] = sq2
      sumWQ[c] = swq
    }
    return
  }
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner
      const k = inv[c]!
      const zp = zeroPoint[c]!
      let sw = 0, sw2 = 0, sq = 0, sq2 = 0, swq = 0
      for (let i = 0; i < inner; i++) {
        const w = values[base + i]!
        let q = Math.floor(w * k + 0.5) + zp
        q = q < qmin ? qmin : q > qmax ? qmax : q
        codes[base + i] = q
        sw += w
        sw2 += w * w
        sq += q
        sq2 += q * q
        swq += w * q
      }
      sumW[c]! += sw
      sumW2[c]! += sw2
      sumQ[c]! += sq
      sumQ2[c]! += sq2
      sumWQ[c]! += swq
    }
  }
}

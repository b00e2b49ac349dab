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

/**
 * Per-channel asymmetric (or symmetric) linear quantization to signed `bits`-bit codes, in two
 * passes over the values: channel ranges with the float sums, then codes with the integer and
 * mixed sums that the mean/variance correction and the error need (so neither costs a pass).
 */
export function quantizePerChannel(values: Float32Array, dims: readonly number[], axis: number, bits: number, symmetric: boolean): { q: ChannelQuantized; sums: ChannelSums } {
  const { outer, channels, inner } = axisLayout(dims, axis)
  // A channel is `runs` runs of `length` values `step` apart, the first starting at
  // c * first and the next `gap` further on. Channel on the last axis (MatMul, Gemm): one run
  // down a column; else one contiguous run per outer index.
  const column = inner === 1
  const runs = column ? 1 : outer
  const length = column ? outer : inner
  const step = column ? channels : 1
  const first = column ? 1 : inner
  const gap = channels * inner
  const qmin = -(2 ** (bits - 1))
  const qmax = 2 ** (bits - 1) - 1
  const lo = new Float64Array(channels)
  const hi = new Float64Array(channels)
  const sums: ChannelSums = {
    n: outer * inner,
    sumW: new Float64Array(channels), sumW2: new Float64Array(channels),
    sumQ: new Float64Array(channels), sumQ2: new Float64Array(channels), sumWQ: new Float64Array(channels),
  }
  for (let c = 0; c < channels; c++) rangeAndFloatSums(values, c * first, runs, gap, length, step, c, lo, hi, sums)
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
  const codes = bits <= 8 ? new Int8Array(values.length) : new Int16Array(values.length)
  for (let c = 0; c < channels; c++) {
    const k = inv[c]!
    const zp = zeroPoint[c]!
    // The code map floor(w * k + 0.5) + zp never decreases in w, so when a channel's extremes
    // land inside [qmin, qmax] every value does: no clamp, and the codes fit int32 arithmetic.
    // NaN values (seen as a NaN sum) and channels that clip take the plain float loop.
    const inRange = !Number.isNaN(sums.sumW[c]!) && Math.floor(lo[c]! * k + 0.5) + zp >= qmin && Math.floor(hi[c]! * k + 0.5) + zp <= qmax
    if (codes instanceof Int8Array) {
      if (inRange) codesInRange8(values, codes, c * first, runs, gap, length, step, c, k, zp, sums)
      else codesClamped8(values, codes, c * first, runs, gap, length, step, c, k, zp, qmin, qmax, sums)
    } else {
      codesClamped16(values, codes, c * first, runs, gap, length, step, c, k, zp, qmin, qmax, sums)
    }
  }
  return { q: { codes, scale, zeroPoint, axis, bits, qmin, qmax }, sums }
}

// Each run sums into its own accumulator that is then added to the channel's total: the order
// of float additions is part of the result (the error and correction are compared bit for bit).
function rangeAndFloatSums(values: Float32Array, start: number, runs: number, gap: number, length: number, step: number, c: number, lo: Float64Array, hi: Float64Array, sums: ChannelSums): void {
  // the range starts at 0 so that it includes zero: exact zeros (pruned weights) stay exact
  let mn = 0
  let mx = 0
  let sumW = 0
  let sumW2 = 0
  for (let r = 0, from = start; r < runs; r++, from += gap) {
    const end = from + length * step
    let sw = 0
    let sw2 = 0
    for (let j = from; j < end; j += step) {
      const v = values[j]!
      if (v < mn) mn = v
      else if (v > mx) mx = v
      sw += v
      sw2 += v * v
    }
    sumW += sw
    sumW2 += sw2
  }
  lo[c] = mn
  hi[c] = mx
  sums.sumW[c] = sumW
  sums.sumW2[c] = sumW2
}

// Integer sums are exact in any order; an int32 running sum of codes and squared codes stays
// exact for 2^16 values of up to 8 bits, so longer runs are added up in blocks of that size.
const INT_BLOCK = 1 << 16

function codesInRange8(values: Float32Array, codes: Int8Array, start: number, runs: number, gap: number, length: number, step: number, c: number, k: number, zp: number, sums: ChannelSums): void {
  let sq = 0
  let sq2 = 0
  let swq = 0
  for (let r = 0, from = start; r < runs; r++, from += gap) {
    const end = from + length * step
    let runSwq = 0
    for (let block = from; block < end; block += INT_BLOCK * step) {
      const blockEnd = Math.min(end, block + INT_BLOCK * step)
      let bq = 0
      let bq2 = 0
      for (let j = block; j < blockEnd; j += step) {
        const w = values[j]!
        const q = (Math.floor(w * k + 0.5) | 0) + zp
        codes[j] = q
        bq = (bq + q) | 0
        bq2 = (bq2 + q * q) | 0
        runSwq += w * q
      }
      sq += bq
      sq2 += bq2
    }
    swq += runSwq
  }
  sums.sumQ[c] = sq
  sums.sumQ2[c] = sq2
  sums.sumWQ[c] = swq
}

// The clamped loops keep float arithmetic so that NaN and codes beyond int32 behave as they did.
function codesClamped8(values: Float32Array, codes: Int8Array, start: number, runs: number, gap: number, length: number, step: number, c: number, k: number, zp: number, qmin: number, qmax: number, sums: ChannelSums): void {
  let sumQ = 0
  let sumQ2 = 0
  let sumWQ = 0
  for (let r = 0, from = start; r < runs; r++, from += gap) {
    const end = from + length * step
    let sq = 0, sq2 = 0, swq = 0
    for (let j = from; j < end; j += step) {
      const w = values[j]!
      let q = Math.floor(w * k + 0.5) + zp
      q = q < qmin ? qmin : q > qmax ? qmax : q
      codes[j] = q
      sq += q
      sq2 += q * q
      swq += w * q
    }
    sumQ += sq
    sumQ2 += sq2
    sumWQ += swq
  }
  sums.sumQ[c] = sumQ
  sums.sumQ2[c] = sumQ2
  sums.sumWQ[c] = sumWQ
}

// A second copy for Int16Array keeps each loop monomorphic in its store (a shared function over
// Int8Array | Int16Array ran ~15x slower).
function codesClamped16(values: Float32Array, codes: Int16Array, start: number, runs: number, gap: number, length: number, step: number, c: number, k: number, zp: number, qmin: number, qmax: number, sums: ChannelSums): void {
  let sumQ = 0
  let sumQ2 = 0
  let sumWQ = 0
  for (let r = 0, from = start; r < runs; r++, from += gap) {
    const end = from + length * step
    let sq = 0, sq2 = 0, swq = 0
    for (let j = from; j < end; j += step) {
      const w = values[j]!
      let q = Math.floor(w * k + 0.5) + zp
      q = q < qmin ? qmin : q > qmax ? qmax : q
      codes[j] = q
      sq += q
      sq2 += q * q
      swq += w * q
    }
    sumQ += sq
    sumQ2 += sq2
    sumWQ += swq
  }
  sums.sumQ[c] = sumQ
  sums.sumQ2[c] = sumQ2
  sums.sumWQ[c] = sumWQ
}

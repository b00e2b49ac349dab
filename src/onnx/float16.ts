// One shared view pair: allocating it per call made float16 rounding a third of the weight
// rewrite's time on PP-OCRv4 rec (two conversions per channel, ~40k channels at 8 bit).
const F32 = new Float32Array(1)
const U32 = new Uint32Array(F32.buffer)

/**
 * IEEE half bits, round to nearest even, of `value` as float32 holds it: a float64 is rounded to
 * float32 first, so a value within 2^-24 of a tie between two halves may take the other one.
 * Callers store the bits they get and decode from them, so nothing depends on which.
 */
export function floatToHalf(value: number): number {
  F32[0] = value
  const x = U32[0]!
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0)
  const e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    const half = 1 << (shift - 1)
    let r = mant >>> shift
    const rest = mant & ((1 << shift) - 1)
    if (rest > half || (rest === half && (r & 1))) r++
    return sign | r
  }
  let r = (e << 10) | (mant >>> 13)
  const rest = mant & 0x1fff
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) r++
  return sign | r
}

// 2^(e - 15) for each exponent field: a table, as Math.pow per call cost more than the rest
const EXPONENT = Float64Array.from({ length: 32 }, (_, e) => 2 ** (e - 15))

/** IEEE half bits to the number they hold. */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1
  const e = (h >> 10) & 0x1f
  const f = h & 0x3ff
  if (e === 0) return s * f * 2 ** -24
  if (e === 31) return f ? NaN : s * Infinity
  return s * (1 + f / 1024) * EXPONENT[e]!
}

/** Float values of IEEE half bits, as onnxruntime-node hands out float16 tensors. */
export function halfsToFloats(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length)
  for (let i = 0; i < bits.length; i++) out[i] = halfToFloat(bits[i]!)
  return out
}

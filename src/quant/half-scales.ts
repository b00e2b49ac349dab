import { floatToHalf, halfToFloat } from '../onnx/float16.js'

/** Per-channel scales as float16 bits times one power of two: scale = half(bits) * power exactly. */
export interface HalfScales {
  bits: Uint16Array
  power: number
}

const HALF_MIN_NORMAL = 2 ** -14
const HALF_MAX = 65504
const F32_MIN_NORMAL = 2 ** -126

/**
 * The power of two a tensor's scales are divided by so that they land in float16's normal range:
 * 1 when they already do, else the one that puts the largest near the top of the range (weight
 * scales are small), which keeps every channel within 2^29 of the largest in full precision.
 * Channels further below (PP-OCRv4 rec has 7 tensors with a channel of weights around 1e-40,
 * dead but not zero) decode through a subnormal float16 scale at reduced precision, or a zero
 * one: an error under 2^-29 of the largest channel's step.
 */
export function halfScalePower(scales: ArrayLike<number>): number {
  let max = 0
  let min = Infinity
  for (let c = 0; c < scales.length; c++) {
    const s = scales[c]!
    if (s > max) max = s
    if (s > 0 && s < min) min = s
  }
  if (max === 0 || (min >= HALF_MIN_NORMAL && max <= HALF_MAX)) return 1
  // never below float32's smallest normal: the power is itself stored as a float32
  return Math.max(F32_MIN_NORMAL, 2 ** Math.ceil(Math.log2(max / HALF_MAX)))
}

/** `scale` rounded to the nearest float16 value times `power`, as the decode graph computes it. */
export function roundToHalf(scale: number, power: number): number {
  return Math.fround(halfToFloat(floatToHalf(scale / power)) * power)
}

/**
 * The float16 form of scales that `roundToHalf` made (every one exactly a float16 value times the
 * tensor's power of two), else null: the writer then keeps them float32, as they are.
 */
export function halfScales(scales: Float32Array): HalfScales | null {
  const power = halfScalePower(scales)
  const bits = new Uint16Array(scales.length)
  for (let c = 0; c < scales.length; c++) {
    const h = floatToHalf(scales[c]! / power)
    if (Math.fround(halfToFloat(h) * power) !== scales[c]) return null
    bits[c] = h
  }
  return { bits, power }
}

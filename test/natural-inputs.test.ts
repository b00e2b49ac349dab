import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { DataType } from '../src/onnx/onnx-types.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { generatedFeeds, uniformFeeds, type InputSpec } from '../src/runtime/feeds.js'
import { naturalInputKind } from '../src/runtime/natural-inputs.js'
import { quantizeModel } from '../src/quantize-model.js'
import { detSamples, sileroSamplesFor } from './helpers/model-inputs.js'
import { MODELS } from './helpers/models.js'

const DET = MODELS.det
const cfg = (bits: number) => ({ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: bits } })

const spec = (name: string, dims: (number | null)[], elemType: number = DataType.FLOAT): InputSpec => ({ name, elemType, dims, params: dims.map(() => '') })
const IMAGE = spec('x', [null, 3, null, null])
const AUDIO = [spec('input', [null, null]), spec('state', [2, null, 128]), spec('sr', [], DataType.INT64)]

function floats(t: ort.Tensor | undefined): Float32Array {
  return t!.data as Float32Array
}

/** Slope of log power vs log frequency of the image's rows (1D DFT of each row, averaged). */
function rowSpectrumSlope(plane: Float32Array, h: number, w: number): number {
  const n = 64
  const power = new Float64Array(n / 2)
  for (let y = 0; y < h; y += 4) {
    let mean = 0
    for (let x = 0; x < n; x++) mean += plane[y * w + x]!
    mean /= n
    for (let k = 1; k < n / 2; k++) {
      let re = 0
      let im = 0
      for (let x = 0; x < n; x++) {
        const v = plane[y * w + x]! - mean
        re += v * Math.cos((2 * Math.PI * k * x) / n)
        im -= v * Math.sin((2 * Math.PI * k * x) / n)
      }
      power[k] += re * re + im * im
    }
  }
  // least-squares slope over k = 2..31
  const xs: number[] = []
  const ys: number[] = []
  for (let k = 2; k < n / 2; k++) {
    xs.push(Math.log(k))
    ys.push(Math.log(power[k]! + 1e-12))
  }
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length
  const my = ys.reduce((a, b) => a + b, 0) / ys.length
  let num = 0
  let den = 0
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my)
    den += (xs[i]! - mx) ** 2
  }
  return num / den
}

describe('generated inputs without user data look like natural data', () => {
  it('recognises image, audio, recurrent-state and sample-rate inputs by shape, type and name', () => {
    expect(naturalInputKind(IMAGE)).toBe('image-nchw')
    expect(naturalInputKind(spec('pixels', [1, 224, 224, 3]))).toBe('image-nhwc')
    expect(naturalInputKind(AUDIO[0]!)).toBe('audio')
    expect(naturalInputKind(AUDIO[1]!)).toBe('state')
    expect(naturalInputKind(spec('h', [2, null, 64]))).toBe('state')
    expect(naturalInputKind(AUDIO[2]!)).toBe('sample-rate')
    // a feature sequence and token ids are none of these: they keep uniform values
    expect(naturalInputKind(spec('feats', [1, 25, 96]))).toBe('other')
    expect(naturalInputKind(spec('ids', [1, 16], DataType.INT64))).toBe('other')
    const feats = [spec('feats', [1, 25, 96])]
    expect(floats(generatedFeeds(feats, 5).feats)).toEqual(floats(uniformFeeds(feats, 5).feats))
  })

  it('images: declared shape with symbolic sides filled, deterministic per seed, values in a normalised pixel range', () => {
    const a = generatedFeeds([IMAGE], 3)
    expect(a.x!.dims).toEqual([1, 3, 320, 320])
    expect(floats(a.x)).toEqual(floats(generatedFeeds([IMAGE], 3).x))
    expect(floats(a.x)).not.toEqual(floats(generatedFeeds([IMAGE], 4).x))
    // a text-line crop: fixed height 48, symbolic width
    expect(generatedFeeds([spec('x', [null, 3, 48, null])], 1).x!.dims).toEqual([1, 3, 48, 192])
    // (x - 0.5) / 0.5 on even seeds, ImageNet mean/std on odd ones
    for (const [seed, lo, hi] of [[2, -1, 1], [3, -2.2, 2.7]] as const) {
      const d = floats(generatedFeeds([IMAGE], seed).x)
      let min = Infinity
      let max = -Infinity
      for (const v of d) {
        min = Math.min(min, v)
        max = Math.max(max, v)
      }
      expect(min).toBeGreaterThanOrEqual(lo)
      expect(max).toBeLessThanOrEqual(hi)
      // spans most of the range: dark and light regions both occur
      expect(max - min).toBeGreaterThan((hi - lo) * 0.6)
    }
  })

  it('images have a natural power spectrum and piecewise-flat regions with sharp edges, unlike uniform noise', () => {
    const side = 320
    const plane = side * side
    for (const seed of [1, 2, 3, 4]) {
      const d = floats(generatedFeeds([IMAGE], seed).x).subarray(0, plane)
      // natural images: power ~ 1/f^2 (slope near -2); white noise is flat (slope near 0)
      const slope = rowSpectrumSlope(d, side, side)
      expect(slope, `seed ${seed}`).toBeLessThan(-1.2)
      expect(slope, `seed ${seed}`).toBeGreaterThan(-3.5)
      let flat = 0
      let edges = 0
      for (let y = 0; y < side; y++) {
        for (let x = 1; x < side; x++) {
          const diff = Math.abs(d[y * side + x]! - d[y * side + x - 1]!)
          if (diff < 0.05) flat++
          if (diff > 0.5) edges++
        }
      }
      const pairs = side * (side - 1)
      expect(flat / pairs, `seed ${seed} flat share`).toBeGreaterThan(0.5)
      expect(edges / pairs, `seed ${seed} edge share`).toBeGreaterThan(0.003)
    }
    const noise = floats(uniformFeeds([spec('x', [1, 3, 64, 64])], 1).x).subarray(0, 64 * 64)
    expect(rowSpectrumSlope(noise, 64, 64)).toBeGreaterThan(-0.5)
  })

  it('audio: speech-like levels and a spectrum weighted to low frequencies; zero state and a 16 kHz rate', () => {
    let lowPassed = 0
    for (let seed = 1; seed <= 8; seed++) {
      const f = generatedFeeds(AUDIO, seed)
      expect(f.input!.dims).toEqual([1, 576])
      expect(f.state!.dims).toEqual([2, 1, 128])
      expect(floats(f.state).every((v) => v === 0)).toBe(true)
      expect(f.sr!.data).toEqual(BigInt64Array.of(16000n))
      const x = floats(f.input)
      let energy = 0
      let lag1 = 0
      for (let i = 0; i < x.length; i++) {
        energy += x[i]! * x[i]!
        if (i > 0) lag1 += x[i]! * x[i - 1]!
      }
      const dbfs = 10 * Math.log10(energy / x.length)
      expect(dbfs, `seed ${seed}`).toBeGreaterThan(-50)
      expect(dbfs, `seed ${seed}`).toBeLessThan(-10)
      // voiced frames and background noise are low-pass (neighbouring samples alike); white noise is not
      if (lag1 / energy > 0.5) lowPassed++
    }
    expect(lowPassed).toBeGreaterThanOrEqual(5)
  })
})

describe('WEIGHT_QUANT without user data: bias correction and the accuracy target run on generated inputs', () => {
  // Before generated inputs looked natural, these were measured on the same held-out inputs as
  // 0.891 (silero op18, 6 bit, on frames of 512 samples), 0.99966 (silero legacy, 8 bit) and 0.900
  // (PP-OCRv4 det, 6 bit). Generated frames of 512 samples (op18 reads silence on them) left op18 at
  // 6 bit under 0.999 on these frames.
  it('silero VAD op18 at 6 bit and legacy at 8 bit meet the issue targets on speech-like audio they never saw', async () => {
    for (const [file, bits, min] of [[MODELS.sileroOp18, 6, 0.999], [MODELS.sileroLegacy, 8, 0.9999]] as const) {
      const { model, report } = await quantizeModel(file, cfg(bits), { verify: false, sizes: false })
      expect(report.accuracy?.inputs).toBe('generated')
      const held = sileroSamplesFor(file, 4, 950)
      const cmp = await compareModels(file, model, held)
      // the plain encoding (no generated-input refinements) misses the same bar
      const plain = await quantizeModel(file, cfg(bits), { verify: false, sizes: false, accuracyTarget: false })
      const cmpPlain = await compareModels(file, plain.model, held)
      console.info(`${file} ${bits} bit without data: cosine ${cmp.cosine.toFixed(6)} (plain ${cmpPlain.cosine.toFixed(6)}), ${report.accuracy!.escalated.length} escalated`)
      expect(cmp.cosine, file).toBeGreaterThanOrEqual(min)
      expect(cmpPlain.cosine, file).toBeLessThan(min)
    }
  })

  it('PP-OCRv4 det at 6 bit keeps its text map on rendered pages', async () => {
    const { model, report } = await quantizeModel(DET, cfg(6), { verify: false, sizes: false })
    expect(report.biasCorrected).toBeGreaterThan(30)
    const pages = await detSamples(2, 300)
    const cmp = await compareModels(DET, model, pages)
    const plain = await quantizeModel(DET, cfg(6), { verify: false, sizes: false, accuracyTarget: false })
    const cmpPlain = await compareModels(DET, plain.model, pages)
    console.info(`det 6 bit without data: cosine ${cmp.cosine.toFixed(6)} (plain ${cmpPlain.cosine.toFixed(6)}), ${report.accuracy!.escalated.length} escalated`)
    expect(cmp.cosine).toBeGreaterThanOrEqual(0.995)
    expect(cmpPlain.cosine).toBeLessThan(0.95)
  })
})

// Mixed-bit weight quantization (bit_num=0): one searched step per weight at the relative error
// init_scale asks for, integers in the smallest type, effective bits reported, and auto_tune's
// init_scale search. Every model runs in onnxruntime-node against the float model on held-out inputs.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { CfgError, cfgFromObject } from '../src/cfg/index.js'
import { decodeModelProto } from '../src/onnx/codec.js'
import { DataType, type TensorProto } from '../src/onnx/onnx-types.js'
import { halfToFloat } from '../src/onnx/float16.js'
import { makeTensor, tensorToFloat32 } from '../src/onnx/tensor-data.js'
import { forEachTensor } from '../src/onnx/tensors.js'
import { codeEntropy } from '../src/quant/mixed-bit/entropy.js'
import { searchStep, stepError } from '../src/quant/mixed-bit/step-search.js'
import { quantizeModel } from '../src/quantize-model.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { inputSpecs, seededRandom, tuningFeeds } from '../src/runtime/feeds.js'
import { verificationSamples } from '../src/runtime/verify.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { buildTransformer } from './helpers/build-transformer.js'
import { clsImageCfg, detSamples, recSamples, writeClsImages } from './helpers/model-inputs.js'
import { ROOT } from './helpers/run-cli.js'
import { MODELS } from './helpers/models.js'

const DET = MODELS.det
const REC = MODELS.rec
const CFG = path.join(ROOT, 'test/fixtures/cfg-modes')
const NOT_CHECKED = 'mixed bit: accuracy target not checked: give calibration data (calibrate_path) or samples to enable it'
const mixed = (initScale?: number) => ({
  common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 0 },
  ...(initScale ? { mixed_bit_weight_quant_param: { init_scale: initScale } } : {}),
})

function gaussian(n: number, seed: number): Float32Array {
  const rand = seededRandom(seed)
  return Float32Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()))
}

describe('the step search', () => {
  it.each([0.002, 0.01, 0.02, 0.1])('reaches relative error %s within 1%', (target) => {
    const values = gaussian(20000, 7)
    const found = searchStep(values, target)
    expect(found.met).toBe(true)
    expect(Math.abs(found.error - target)).toBeLessThanOrEqual(target * 0.01)
    expect(stepError(values, found.step).error).toBe(found.error)
    // a coarser error target means a coarser step
    expect(searchStep(values, target * 2).step).toBeGreaterThan(found.step)
  })

  it('entropy of the codes: 8 bits for a uniform byte spread, 0 for a constant', () => {
    expect(codeEntropy(Int8Array.from({ length: 256 * 4 }, (_, i) => (i % 256) - 128))).toBeCloseTo(8, 10)
    expect(codeEntropy(new Int8Array(100).fill(3))).toBe(0)
  })
})

describe('bit_num=0 on PP-OCRv4 rec and det', async () => {
  // eight rendered calibration inputs (bias correction), held-out ones for the check
  const rec = await quantizeModel(REC, mixed(), { samples: await recSamples(8, 100), accuracyTarget: false, verify: false })
  // det: two small pointwise convs decide most of its output error; the accuracy guard finds them
  const det = await quantizeModel(DET, mixed(), { samples: await detSamples(4, 100, 320), verify: false })

  it('reports each layer: step, range, relative error at init_scale, effective bits, storage type', () => {
    for (const { report } of [rec, det]) {
      const m = report.mixedBit!
      expect(m.initScale).toBe(0.02)
      expect(m.layers.length).toBe(report.layers.length)
      // (the accuracy guard's finer steps are checked below)
      for (const l of m.layers.filter((x) => !x.fallback && x.refinedTo === null)) {
        expect(l.step).toBeGreaterThan(0)
        expect(l.min).toBeLessThanOrEqual(l.max)
        // one step per tensor on RMS-normalized channels meets init_scale there; in the weight's own
        // units (channels weighted by their norms) the error stays near it
        expect(l.relativeError).toBeGreaterThan(0.012)
        expect(l.relativeError).toBeLessThan(0.03)
        expect(['int8', 'int8x2']).toContain(l.storage)
        expect(l.effectiveBits).toBeLessThan(l.codeBits)
      }
      // 2% error costs about 6 bits of entropy per weight, against about 7 for fixed 8 bit
      expect(m.meanEffectiveBits).toBeGreaterThan(5)
      expect(m.meanEffectiveBits).toBeLessThan(6.5)
    }
  })

  it('stores codes as int8 (a mostly-zero high int8 plane for codes past ±127), float16 scales, and brotli <= 0.8x fixed 8 bit', async () => {
    const fixed8 = await quantizeModel(REC, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } }, { verify: false, accuracyTarget: false, biasCorrection: false })
    const types = new Map<string, number>()
    forEachTensor(decodeModelProto(rec.model), (t) => { if (t.name) types.set(t.name, t.data_type ?? 0) })
    for (const l of rec.report.mixedBit!.layers) {
      expect(types.get(`${l.tensor}_quantized`)).toBe(DataType.INT8)
      expect(types.get(`${l.tensor}_quantized_high`)).toBe(l.storage === 'int8x2' ? DataType.INT8 : undefined)
      expect(types.get(`${l.tensor}_scale`)).toBe(DataType.FLOAT16)
    }
    expect(rec.report.mixedBit!.layers.some((l) => l.storage === 'int8x2')).toBe(true)
    // the target at init_scale 0.02, on the report's brotli sizes
    expect(rec.report.sizesOut.brotli! / fixed8.report.sizesOut.brotli!).toBeLessThanOrEqual(0.8)
  })

  it('rec and det keep output cosine >= 0.995 on held-out inputs', async () => {
    expect((await compareModels(REC, rec.model, await recSamples(8, 4100))).cosine).toBeGreaterThanOrEqual(0.995)
    expect((await compareModels(DET, det.model, await detSamples(4, 4100, 320))).cosine).toBeGreaterThanOrEqual(0.995)
    expect(rec.report.biasCorrected).toBeGreaterThan(30)
  })

  it('the accuracy guard gives the few output-sensitive weights finer steps or fixed 8 bit, and says which', () => {
    const acc = det.report.accuracy!
    expect(acc.inputs).toBe('given')
    expect(acc.cosineBefore).toBeLessThan(0.9975)
    // it aims at half the error budget on the samples it saw
    expect(acc.cosineAfter).toBeGreaterThanOrEqual(0.9975)
    const m = det.report.mixedBit!
    const refined = m.layers.filter((l) => l.refinedTo !== null)
    const fixed8 = m.layers.filter((l) => l.fallback && /output-sensitive/.test(l.fallback))
    expect(refined.length).toBeGreaterThan(0)
    expect(refined.length + fixed8.length).toBeLessThan(m.layers.length / 4)
    // a finer step is searched for init_scale / 2 or / 4 and stored like any other: in the
    // weight's own units its error sits near that target, below the init_scale layers' errors
    for (const l of refined) {
      expect([0.01, 0.005]).toContain(l.refinedTo)
      if (l.fallback) continue
      expect(l.relativeError).toBeGreaterThan(l.refinedTo! * 0.6)
      expect(l.relativeError).toBeLessThan(l.refinedTo! * 1.5)
      expect(l.relativeError).toBeLessThan(0.012)
    }
    // the report names the weights at fixed 8 bit as escalated, and every guard change in a note
    expect(acc.escalatedBits).toBe(8)
    expect([...acc.escalated].sort()).toEqual(fixed8.map((l) => l.tensor).sort())
    expect(m.fallbacks).toBe(m.layers.filter((l) => l.fallback).length)
    const note = m.notes.find((n) => n.startsWith('accuracy guard:'))!
    for (const l of [...refined, ...fixed8]) expect(note).toContain(l.tensor)
    expect(rec.report.mixedBit!.fallbacks).toBe(0)
    expect(rec.report.mixedBit!.layers.every((l) => l.refinedTo === null)).toBe(true)
    for (const { report } of [rec, det]) expect(report.warnings).not.toContain(NOT_CHECKED)
  })
})

describe('storage follows the codes', () => {
  const float = buildModel({
    nodes: [node('MatMul', ['x', 'W'], ['y'])],
    initializers: [randomTensor('W', [64, 48], 21)],
    inputs: [valueInfo('x', DataType.FLOAT, [2, 64])],
    outputs: [valueInfo('y', DataType.FLOAT, [2, 48])],
  })

  it.each([[0.001, 'int8x2'], [0.05, 'int8']] as const)('init_scale %s: %s', async (initScale, storage) => {
    const { model, report } = await quantizeModel(float, mixed(initScale), { sizes: false })
    const layer = report.mixedBit!.layers[0]!
    expect(layer.storage).toBe(storage)
    expect(Math.abs(layer.relativeError - initScale) / initScale).toBeLessThan(0.2)
    const stored = new Map<string, TensorProto>()
    forEachTensor(decodeModelProto(model), (t) => { if (t.name) stored.set(t.name, t) })
    expect(stored.get('W_quantized')!.data_type).toBe(DataType.INT8)
    expect(stored.has('W_quantized_high')).toBe(storage === 'int8x2')
    expect(report.cosineSimilarity).toBeGreaterThan(1 - 4 * initScale)
    // no samples and no calibration data: the accuracy target checked the output on generated inputs
    expect(report.accuracy?.inputs).toBe('generated')
    expect(report.accuracy!.cosineAfter).toBeGreaterThanOrEqual(0.995)
    expect(report.warnings).not.toContain(NOT_CHECKED)
  })

  it('an all-zero output channel stores like the same weight without it (its error is 0, not NaN)', async () => {
    // one outlier makes int8 need the per-channel floors; a zero channel once turned them off
    const matmul = (zero: boolean) => {
      const values = tensorToFloat32(randomTensor('W', [64, 48], 21)).slice()
      values[3 * 48 + 7] = 3
      if (zero) for (let r = 0; r < 64; r++) values[r * 48 + 5] = 0
      return buildModel({
        nodes: [node('MatMul', ['x', 'W'], ['y'])],
        initializers: [makeTensor('W', DataType.FLOAT, [64, 48], values)],
        inputs: [valueInfo('x', DataType.FLOAT, [2, 64])],
        outputs: [valueInfo('y', DataType.FLOAT, [2, 48])],
      })
    }
    const plain = (await quantizeModel(matmul(false), mixed(0.01), { sizes: false })).report
    const zeroed = (await quantizeModel(matmul(true), mixed(0.01), { sizes: false })).report
    expect(plain.mixedBit!.layers[0]!.storage).toBe('int8')
    expect(zeroed.mixedBit!.layers[0]!.storage).toBe('int8')
    expect(Number.isFinite(zeroed.mixedBit!.layers[0]!.relativeError)).toBe(true)
    expect(zeroed.cosineSimilarity).toBeGreaterThan(0.99)
  })

  it.each([[0.001, 0.1], [0.02, 0.1], [0.02, 1e-4]])('init_scale %s, weights ~%s: onnxruntime decodes exactly the weights the report describes', async (initScale, size) => {
    // x = identity makes y the decoded weight itself, so the file's codes, float16 scales and zero
    // points must decode in onnxruntime bit for bit as the report's parameters say
    const eye = buildModel({
      nodes: [node('MatMul', ['x', 'W'], ['y'])],
      initializers: [randomTensor('W', [64, 48], 21, size)],
      inputs: [valueInfo('x', DataType.FLOAT, [64, 64])],
      outputs: [valueInfo('y', DataType.FLOAT, [64, 48])],
    })
    const { model, report } = await quantizeModel(eye, mixed(initScale), { sizes: false, verify: false })
    const tensors = new Map<string, TensorProto>()
    forEachTensor(decodeModelProto(model), (t) => { if (t.name) tensors.set(t.name, t) })
    const low = new Int8Array(tensors.get('W_quantized')!.raw_data!.slice().buffer)
    const highT = tensors.get('W_quantized_high')
    const high = highT ? new Int8Array(highT.raw_data!.slice().buffer) : null
    const layer = report.layers[0]!
    const session = await ort.InferenceSession.create(model)
    const x = new Float32Array(64 * 64)
    for (let i = 0; i < 64; i++) x[i * 64 + i] = 1
    const y = (await session.run({ x: new ort.Tensor('float32', x, [64, 64]) })).y!.data as Float32Array
    await session.release()
    const W = tensorToFloat32(randomTensor('W', [64, 48], 21, size))
    let err = 0
    let norm = 0
    for (let i = 0; i < 64 * 48; i++) {
      const c = i % 48
      const q = low[i]! + (high ? 256 * high[i]! : 0)
      expect(y[i]).toBe(Math.fround(Math.fround(q - layer.zeroPoint[c]!) * layer.scale[c]!))
      err += (W[i]! - y[i]!) ** 2
      norm += W[i]! ** 2
    }
    expect(Math.sqrt(err / norm)).toBeCloseTo(report.mixedBit!.layers[0]!.relativeError, 6)
    // the report's scales are the file's float16 values, times a shared power of two when tiny
    // weights put them below float16's normal range
    const half = new Uint16Array(tensors.get('W_scale')!.raw_data!.slice().buffer)
    const powerT = tensors.get('W_scale_power')
    expect(Boolean(powerT)).toBe(size < 0.01)
    const power = powerT ? new Float32Array(powerT.raw_data!.slice().buffer)[0]! : 1
    layer.scale.forEach((c, k) => expect(c).toBe(Math.fround(halfToFloat(half[k]!) * power)))
  })
})

describe('auto_tune', async () => {
  const shape = { layers: 1, vocab: 500 }
  const float = buildTransformer(shape)
  const cfg = path.join(CFG, 'mixed-auto-tune.cfg')
  const first = await quantizeModel(float, cfg, { sizes: false })
  const again = await quantizeModel(float, cfg, { sizes: false })

  it('searches init_scale for the most compression at output cosine >= 0.995 and reports the curve', () => {
    const tune = first.report.mixedBit!.autoTune!
    expect(tune.goal).toBe(0.995)
    expect(tune.inputs).toBe('generated')
    expect(first.report.warnings.some((w) => /auto_tune ran on generated inputs/.test(w))).toBe(true)
    expect(tune.reached).toBe(true)
    expect(first.report.mixedBit!.initScale).toBe(tune.chosen)
    const chosen = tune.curve.find((p) => p.initScale === tune.chosen)!
    expect(chosen.cosine).toBeGreaterThanOrEqual(0.995)
    // every larger init_scale tried missed the goal, and larger means smaller
    for (const p of tune.curve.filter((p) => p.initScale > tune.chosen)) expect(p.cosine).toBeLessThan(0.995)
    const sorted = [...tune.curve].sort((a, b) => a.initScale - b.initScale)
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.entropyBytes).toBeLessThan(sorted[i - 1]!.entropyBytes)
    expect(first.report.cosineSimilarity).toBeGreaterThanOrEqual(0.995)
  })

  it('is reproducible: the same model and cfg give the same choice, curve and bytes', () => {
    expect(again.report.mixedBit!.autoTune).toEqual(first.report.mixedBit!.autoTune)
    expect(Buffer.compare(Buffer.from(again.model), Buffer.from(first.model))).toBe(0)
  })

  it('without data, tunes on generated inputs of its own seeds, not on the ones verification grades', async () => {
    const tune = first.report.mixedBit!.autoTune!
    const chosen = tune.curve.find((p) => p.initScale === tune.chosen)!
    // the candidate auto_tune scored: the chosen init_scale with nothing after it
    const { model } = await quantizeModel(float, {
      common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 0 }, mixed_bit_weight_quant_param: { init_scale: tune.chosen },
    }, { sizes: false, verify: false, biasCorrection: false, accuracyTarget: false })
    const specs = inputSpecs(decodeModelProto(float))
    expect((await compareModels(float, model, tuningFeeds(specs, tune.samples))).cosine).toBeCloseTo(chosen.cosine, 12)
    const graded = await verificationSamples(specs, cfgFromObject({ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 0 } }, ROOT), tune.samples)
    expect((await compareModels(float, model, graded.samples)).cosine).not.toBeCloseTo(chosen.cosine, 12)
  })

  it('tunes on the samples it is given, and the choice holds on held-out inputs', async () => {
    const ids = (seed: number) => {
      const rand = seededRandom(seed)
      return { input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: 128 }, () => BigInt(Math.floor(rand() * 500))), [1, 128]) }
    }
    const { model, report } = await quantizeModel(float, cfg, { sizes: false, verify: false, samples: [ids(1), ids(2), ids(3)] })
    expect(report.mixedBit!.autoTune!.inputs).toBe('given')
    expect((await compareModels(float, model, [ids(50), ids(51), ids(52)])).cosine).toBeGreaterThanOrEqual(0.99)
  })

  it('tunes on the first calibration files, read once with the refinement: their warnings come once', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mixed-calibration-'))
    try {
      await writeClsImages(dir, 3, 700)
      const cls = MODELS.cls
      const { report } = await quantizeModel(cls, {
        common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 0 }, mixed_bit_weight_quant_param: { auto_tune: true },
        data_preprocess_param: clsImageCfg(dir, 10),
      }, { sizes: false, verify: false })
      expect(report.mixedBit!.autoTune).toMatchObject({ inputs: 'calibration', samples: 3 })
      expect(report.warnings.filter((w) => w.startsWith('calibrate_size=10 but '))).toHaveLength(1)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('samples the float model cannot run on: a clear error naming the inputs, before any init_scale is tried', async () => {
    const progress: string[] = []
    // of the right type and shape (another type is refused with the options), but token ids past the 500-row table
    const wrong = { input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: 128 }, () => 100_000n), [1, 128]) }
    await expect(quantizeModel(float, cfg, { sizes: false, verify: false, samples: [wrong], onProgress: (m) => progress.push(m) }))
      .rejects.toThrow(/auto_tune could not run the model on given inputs/)
    expect(progress.some((m) => m.startsWith('auto_tune: trying'))).toBe(false)
  })
})

describe('mixed-bit cfg errors', () => {
  it('init_scale=1.5 names the file, line, key and what is allowed', async () => {
    const file = path.join(CFG, 'mixed-init-scale-1.5.cfg')
    expect(fs.existsSync(file)).toBe(true)
    const err = await quantizeModel(REC, file, { verify: false }).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(CfgError)
    expect((err as CfgError).line).toBe(7)
    expect((err as CfgError).key).toBe('init_scale')
    expect((err as Error).message).toBe(`${file}:7: init_scale=1.5 is out of range; allowed: a number in (0, 1)`)
  })
})

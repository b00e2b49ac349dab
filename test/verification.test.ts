// Verification runs the float and the quantized model side by side: a quantized model that
// fails where the float one runs is a broken output (an error, never emitted); a model that
// cannot run on the inputs at all only loses its cosine.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { cfgFromObject } from '../src/cfg/index.js'
import { QuantizeError } from '../src/errors.js'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { quantizeModel } from '../src/quantize-model.js'
import { compareModels, RecordedReference } from '../src/runtime/compare-models.js'
import { generatedFeeds, inputSpecs, type Feeds } from '../src/runtime/feeds.js'
import { verifyModels } from '../src/runtime/verify.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { MODELS } from './helpers/models.js'

const cfg = cfgFromObject({ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } }, process.cwd())

function withFirstNode(bytes: Uint8Array, opType: string): Uint8Array {
  const model = decodeModelProto(bytes)
  model.graph!.node![0]!.op_type = opType
  return encodeModelProto(model)
}

describe('verification', () => {
  const float = new Uint8Array(fs.readFileSync(MODELS.helloDeepa))
  const specs = inputSpecs(decodeModelProto(float))

  it('an identical candidate verifies at cosine 1', async () => {
    const v = await verifyModels(MODELS.helloDeepa, float, null, cfg, { specs, samples: 2 })
    expect(v.error).toBeNull()
    expect(v.cosine).toBeCloseTo(1, 6)
  })

  it('a quantized model onnxruntime cannot load, where the float one runs, is a runtime QuantizeError naming the model', async () => {
    const broken = withFirstNode(float, 'NoSuchOperator')
    const err = await verifyModels(MODELS.helloDeepa, broken, null, cfg, { specs, samples: 2 }).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(QuantizeError)
    expect((err as QuantizeError).code).toBe('runtime')
    expect((err as QuantizeError).file).toBe(MODELS.helloDeepa)
    expect((err as Error).message).toMatch(/cannot load the quantized model/)
  })

  it('when the float model itself cannot run, verification is skipped with the reason, not an error', async () => {
    const unrunnable = withFirstNode(float, 'NoSuchOperator')
    const v = await verifyModels(unrunnable, unrunnable, null, cfg, { specs, samples: 2 })
    expect(v.cosine).toBeNull()
    expect(v.error).toMatch(/verification could not run the models/)
  })

  it('runs on calibration-folder files beyond calibrate_size when there are some, so a calibrated cosine is not graded on its own fit', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uq-verify-'))
    try {
      // five .bin samples; the first three calibrate (bias correction reads them), the last two are held out
      const clsSpecs = inputSpecs(decodeModelProto(fs.readFileSync(MODELS.cls)))
      const samples: Feeds[] = Array.from({ length: 5 }, (_, i) => generatedFeeds(clsSpecs, 77 + i))
      fs.mkdirSync(path.join(dir, 'bin'))
      samples.forEach((f, i) => {
        const t = f[clsSpecs[0]!.name]!
        const data = t.data as Float32Array
        fs.writeFileSync(path.join(dir, 'bin', `s${i}.bin`), new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
      })
      const withData = (size: number) => cfgFromObject({
        common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 3 },
        data_preprocess_param: { calibrate_path: 'bin', calibrate_size: size, input_type: 'BIN' },
      }, dir, path.join(dir, 'm.cfg'))

      const held = await quantizeModel(MODELS.cls, withData(3), { verifySamples: 4 })
      expect(held.report.verification?.inputs).toBe('held-out')
      expect(held.report.verification?.samples).toBe(2)
      // the same cosine, computed here on the two held-out files only
      const independent = await compareModels(MODELS.cls, held.model, samples.slice(3))
      expect(held.report.cosineSimilarity).toBeCloseTo(independent.cosine, 6)
      expect(held.report.cosineSimilarity).not.toBeCloseTo((await compareModels(MODELS.cls, held.model, samples.slice(0, 3))).cosine, 6)

      // every file calibrates: the report says the cosine is on calibration samples
      const all = await quantizeModel(MODELS.cls, withData(5), { verifySamples: 4 })
      expect(all.report.verification?.inputs).toBe('calibration')
      expect(all.report.verification?.samples).toBe(4)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('generated inputs cover float16, int8, int16 and uint16 inputs, and stay inside the table a Gather indexes', async () => {
    const F = DataType.FLOAT
    const viaCast = (type: DataType) => buildModel({
      nodes: [node('Cast', ['x'], ['xf'], { to: F }), node('MatMul', ['xf', 'w'], ['y'])],
      initializers: [randomTensor('w', [64, 32], 4)], inputs: [valueInfo('x', type, [4, 64])], outputs: [valueInfo('y', F, [4, 32])],
    })
    // a [40, 6] table gathered along axis 1: indices 6 and 7 would be out of bounds
    const gather = buildModel({
      nodes: [node('Gather', ['table', 'ids'], ['rows'], { axis: 1 }), node('MatMul', ['rows', 'w'], ['y'])],
      initializers: [randomTensor('table', [40, 6], 5), randomTensor('w', [4, 32], 6)],
      inputs: [valueInfo('ids', DataType.INT64, [4])], outputs: [valueInfo('y', F, [40, 32])],
    })
    const models: [string, Uint8Array][] = [
      ...([DataType.FLOAT16, DataType.INT8, DataType.INT16, DataType.UINT16] as const).map((t): [string, Uint8Array] => [DataType[t], viaCast(t)]),
      ['Gather along an axis of 6', gather],
    ]
    for (const [what, model] of models) {
      const { report } = await quantizeModel(model, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8, min_quant_weight_channel: 0 } }, { sizes: false })
      expect(report.verification?.error ?? null, what).toBeNull()
      expect(report.verification?.inputs, what).toBe('generated')
      expect(report.cosineSimilarity, what).toBeGreaterThan(0.999)
      expect(report.accuracy?.cosineAfter, what).toBeGreaterThan(0.999)
    }
  })

  it('a recorded reference (the float outputs run once) compares candidates as the float model itself does', async () => {
    const bytes = new Uint8Array(fs.readFileSync(MODELS.sileroOp18))
    const samples = [0, 1, 2].map((seed) => generatedFeeds(inputSpecs(decodeModelProto(bytes)), 40 + seed))
    const recorded = await RecordedReference.record(bytes, samples)
    for (const bits of [8, 4]) {
      const { model } = await quantizeModel(bytes, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: bits } }, { verify: false, sizes: false, accuracyTarget: false })
      const direct = await compareModels(bytes, model, samples)
      expect(await compareModels(recorded, model, samples)).toEqual(direct)
      expect(direct.cosine).toBeLessThan(1)
    }
    // other samples, even equal ones, are not what it recorded
    await expect(compareModels(recorded, bytes, samples.slice(1))).rejects.toThrow(/recorded with/)
    await expect(compareModels(recorded, bytes, [...samples.slice(0, 2), { ...samples[2]! }])).rejects.toThrow(/recorded with/)
    // nor another thread count
    await expect(compareModels(recorded, bytes, samples, { threads: 2 })).rejects.toThrow(/recorded with/)
  })
})

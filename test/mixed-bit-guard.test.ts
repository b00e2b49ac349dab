// Mixed bit's accuracy guard: when the output misses the accuracy target, the weights the output
// is sensitive to get finer steps (init_scale / 2 or / 4) or fixed 8 bit, chosen by predicted
// cosine per byte; the report says per layer what was done. Runs in onnxruntime-node against the
// float model on held-out inputs.
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { DataType } from '../src/onnx/onnx-types.js'
import { quantizeModel } from '../src/quantize-model.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { seededRandom, type Feeds } from '../src/runtime/feeds.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'

// y = x W1 + (x W2) W3, the second path a tenth of the first in size: a relative error in W2 or
// W3 moves the output about a hundredth as much (in variance) as the same error in W1, which
// holds an eighth of the weight elements (the guard may change at most a quarter)
const model = buildModel({
  nodes: [node('MatMul', ['x', 'W1'], ['a']), node('MatMul', ['x', 'W2'], ['h']), node('MatMul', ['h', 'W3'], ['b']), node('Add', ['a', 'b'], ['y'])],
  initializers: [randomTensor('W1', [64, 48], 31, 0.1), randomTensor('W2', [64, 192], 32, 0.1), randomTensor('W3', [192, 48], 33, 0.007)],
  inputs: [valueInfo('x', DataType.FLOAT, [8, 64])],
  outputs: [valueInfo('y', DataType.FLOAT, [8, 48])],
})
const feeds = (seed: number): Feeds => {
  const rand = seededRandom(seed)
  return { x: new ort.Tensor('float32', Float32Array.from({ length: 8 * 64 }, () => rand() * 2 - 1), [8, 64]) }
}
const CFG = { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 0 } }
// at init_scale 0.02 the output cosine is near 1 - 0.02^2 / 2 = 0.9998: a target of 0.9998 (the
// guard aims at half its error budget, 0.9999) needs about half that error in W1
const TARGET = 0.9998

describe('the mixed-bit accuracy guard', async () => {
  const samples = [feeds(1), feeds(2), feeds(3), feeds(4)]
  const run = () => quantizeModel(model, CFG, { samples, accuracyTarget: TARGET, sizes: false, verify: false })
  const first = await run()
  const again = await run()

  it('gives the sensitive weight a finer step instead of fixed 8 bit, and leaves the other at init_scale', () => {
    const acc = first.report.accuracy!
    expect(acc.cosineBefore).toBeLessThan(1 - (1 - TARGET) / 2)
    expect(acc.cosineAfter).toBeGreaterThanOrEqual(1 - (1 - TARGET) / 2)
    const [w1, w2, w3] = ['W1', 'W2', 'W3'].map((t) => first.report.mixedBit!.layers.find((l) => l.tensor === t)!)
    expect(w1!.refinedTo).toBe(0.01)
    expect(w1!.fallback).toBeNull()
    // its step was searched for the finer target, in the same storage as any weight
    expect(Math.abs(w1!.relativeError - 0.01) / 0.01).toBeLessThan(0.2)
    expect(w1!.storage).toBe('int8')
    for (const w of [w2!, w3!]) {
      expect(w.refinedTo).toBeNull()
      expect(w.fallback).toBeNull()
      expect(Math.abs(w.relativeError - 0.02) / 0.02).toBeLessThan(0.2)
    }
    // nothing went to fixed 8 bit, and the note names what the guard changed
    expect(acc.escalated).toEqual([])
    expect(first.report.mixedBit!.fallbacks).toBe(0)
    expect(first.report.mixedBit!.notes).toContain('accuracy guard: 1 weight(s) given finer steps (relative error): W1 (0.01); 0 stored at fixed 8 bit')
    expect(first.report.warnings.some((w) => /accuracy target .* not reached/.test(w))).toBe(false)
  })

  it('the target holds on held-out inputs', async () => {
    expect((await compareModels(model, first.model, [feeds(50), feeds(51), feeds(52)])).cosine).toBeGreaterThanOrEqual(TARGET)
  })

  it('is reproducible: the same model and inputs give the same bytes', () => {
    expect(again.report.mixedBit).toEqual(first.report.mixedBit)
    expect(Buffer.compare(Buffer.from(again.model), Buffer.from(first.model))).toBe(0)
  })

  it('without the guard (accuracyTarget: false) every weight keeps init_scale', async () => {
    const { report } = await quantizeModel(model, CFG, { samples, accuracyTarget: false, sizes: false, verify: false })
    expect(report.accuracy).toBeNull()
    expect(report.mixedBit!.layers.every((l) => l.refinedTo === null && l.fallback === null)).toBe(true)
  })
})

// How outputs are compared with the float model's: per sample, except that an output of one
// element a sample (a score, a probability) is compared across the samples, since the cosine of a
// single number is its sign; float16 outputs decoded; integer-only outputs give the accuracy
// target nothing to measure, and it says so.
import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { AttributeType, DataType } from '../src/onnx/onnx-types.js'
import { quantizeModel } from '../src/quantize-model.js'
import { distinctDecimals } from '../src/report/distinct-decimals.js'
import { reportJson } from '../src/report/report-json.js'
import { cosineSimilarity } from '../src/runtime/cosine.js'
import { OutputCosines } from '../src/runtime/output-cosine.js'
import { MODELS } from './helpers/models.js'

const weightQuant = (bits: number) => ({ common_quant_param: { quant_type: 'WEIGHT_QUANT' as const, bit_num: bits } })

/** hello_deepa (one output '39', a [1, 1] wake-word score) with that score passed through `op` as its only output. */
function helloDeepaWith(op: 'Cast16' | 'ArgMax'): Uint8Array {
  const model = decodeModelProto(new Uint8Array(fs.readFileSync(MODELS.helloDeepa)))
  const g = model.graph!
  const [out] = g.output!
  const name = `${out!.name}_${op}`
  if (op === 'Cast16') {
    g.node!.push({ op_type: 'Cast', name: 'to_half', input: [out!.name!], output: [name], attribute: [{ name: 'to', type: AttributeType.INT, i: DataType.FLOAT16 }] })
    g.output = [{ name, type: { tensor_type: { elem_type: DataType.FLOAT16 } } }]
  } else {
    g.node!.push({ op_type: 'ArgMax', name: 'argmax', input: [out!.name!], output: [name], attribute: [{ name: 'axis', type: AttributeType.INT, i: 1 }] })
    g.output = [{ name, type: { tensor_type: { elem_type: DataType.INT64 } } }]
  }
  return encodeModelProto(model)
}

describe('OutputCosines', () => {
  it('an output of several elements: the mean of its per-sample cosines', () => {
    const c = new OutputCosines()
    const pairs = [[[1, 2, 3], [1, 2, 2.5]], [[0, 1, 0], [0.1, 1, 0]], [[4, -1, 2], [-4, 1, -2]]] as const
    // add returns the sample's own cosine
    for (const [a, b] of pairs) expect(c.add('y', a, b)).toBe(cosineSimilarity(a, b))
    const mean = pairs.reduce((s, [a, b]) => s + cosineSimilarity(a, b), 0) / pairs.length
    expect(c.cosine('y')).toBeCloseTo(mean, 12)
    expect(c.acrossSamples('y')).toBe(false)
  })

  it('an output of one element a sample: the cosine of its values across the samples, not their signs', () => {
    const c = new OutputCosines()
    const ref = [0.9, 0.05, 0.6, 0.001]
    const got = [0.7, 0.3, 0.61, 0.002]
    ref.forEach((r, i) => c.add('score', [r], [got[i]!]))
    // per sample each reads 1: the sign agrees
    for (const [i, r] of ref.entries()) expect(cosineSimilarity([r], [got[i]!])).toBeCloseTo(1, 12)
    expect(c.cosine('score')).toBeCloseTo(cosineSimilarity(ref, got), 12)
    expect(c.cosine('score')).toBeLessThan(0.97)
    expect(c.acrossSamples('score')).toBe(true)
  })

  it('the least over the outputs; all-zero outputs agree; an output once larger than one element is per sample', () => {
    const c = new OutputCosines()
    c.add('zeros', [0], [0])
    c.add('zeros', [0], [0])
    c.add('off', [0], [1])
    c.add('grows', [1], [2])
    c.add('grows', [1, 0], [0, 1])
    expect(c.cosine('zeros')).toBe(1)
    expect(c.cosine('off')).toBe(0)
    // per sample: 1 and 0
    expect(c.cosine('grows')).toBe(0.5)
    expect(c.least()).toBe(0)
    expect(c.names()).toEqual(['zeros', 'off', 'grows'])
    expect(() => c.cosine('never')).toThrow(/no samples of output 'never'/)
  })
})

describe('comparing real outputs', () => {
  it("openWakeWord's one-element score is verified across the samples: at 2 bit it no longer reads 1", async () => {
    const bytes = new Uint8Array(fs.readFileSync(MODELS.helloDeepa))
    const r = await quantizeModel(bytes, weightQuant(2), { sizes: false })
    const [out] = r.report.verification!.outputs
    // per sample this read exactly 1 (sign agreement) while the score moved by 0.8
    expect(out!.maxAbsDiff).toBeGreaterThan(0.1)
    expect(r.report.cosineSimilarity).toBeLessThan(0.99)
    expect(r.report.cosineSimilarity).toBeGreaterThan(0)
  })

  it('the accuracy target measures that score: at 6 bit the plain encoding reads below 1', async () => {
    const bytes = new Uint8Array(fs.readFileSync(MODELS.helloDeepa))
    const r = await quantizeModel(bytes, weightQuant(6), { sizes: false })
    const a = r.report.accuracy!
    expect(a.cosineBefore).toBeLessThan(1)
    expect(a.cosineBefore).toBeGreaterThan(0.999)
    expect(a.reached).toBe(true)
  })

  it('a float16 output is decoded before it is compared, by verification and by the accuracy target', async () => {
    const float = await quantizeModel(new Uint8Array(fs.readFileSync(MODELS.helloDeepa)), weightQuant(6), { sizes: false })
    const half = await quantizeModel(helloDeepaWith('Cast16'), weightQuant(6), { sizes: false })
    // compared as raw half bits, verification and the target read other figures (the target exactly 1)
    expect(half.report.accuracy!.cosineBefore).toBeLessThan(1)
    expect(Math.abs(half.report.accuracy!.cosineBefore - float.report.accuracy!.cosineBefore)).toBeLessThan(1e-4)
    expect(Math.abs(half.report.cosineSimilarity! - float.report.cosineSimilarity!)).toBeLessThan(1e-4)
    expect(half.report.verification!.outputs[0]!.maxAbsDiff).toBeLessThan(0.01)
    // verification names each output's type: float ones are what the target's second check reads
    expect(half.report.verification!.outputs.map((o) => o.type)).toEqual(['float16'])
    expect(float.report.verification!.outputs.map((o) => o.type)).toEqual(['float32'])
  })

  it('a model whose only output is an integer: the accuracy target says it has nothing to measure, rather than reading 1', async () => {
    const r = await quantizeModel(helloDeepaWith('ArgMax'), weightQuant(6), { sizes: false })
    expect(r.report.accuracy).toBeNull()
    expect(r.report.verification!.outputs.map((o) => o.type)).toEqual(['int64'])
    expect(reportJson(r.report, 'x.onnx').verification!.outputs.map((o) => o.type)).toEqual(['int64'])
    expect(r.report.warnings.join('\n')).toMatch(/accuracy target skipped: the model has no floating-point tensor outputs to measure closeness on \('39_ArgMax' hold integers/)
    expect(r.report.nodesQuantized).toBeGreaterThan(0)
  })
})

describe('cosines in messages', () => {
  it('carry as many decimals as it takes to tell two apart (6 to 12)', () => {
    expect(distinctDecimals(0.99991234, 0.99982)).toEqual(['0.999912', '0.999820'])
    expect(distinctDecimals(0.99999991, 0.99999996)).toEqual(['0.9999999', '1.0000000'])
    expect(distinctDecimals(0.999999911, 0.999999914)).toEqual(['0.999999911', '0.999999914'])
    expect(distinctDecimals(1, 1)).toEqual(['1.000000000000', '1.000000000000'])
  })
})

// The library's options as a JavaScript caller may pass them: each wrong key or value is a
// QuantizeError naming it, what was given and what is allowed, before any work.
import fs from 'node:fs'
import os from 'node:os'
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { QuantizeError } from '../src/errors.js'
import { quantizeModel } from '../src/quantize-model.js'
import { resolveQuantizeOptions } from '../src/quantize-options.js'
import { MODELS } from './helpers/models.js'

const cfg = { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } }
const bytes = new Uint8Array(fs.readFileSync(MODELS.helloDeepa))
const x = (data: Float32Array) => ({ x: new ort.Tensor('float32', data, [1, data.length]) })

async function rejection(run: Promise<unknown>): Promise<QuantizeError> {
  const err = await run.then(() => null, (e: unknown) => e)
  expect(err).toBeInstanceOf(QuantizeError)
  return err as QuantizeError
}

describe('quantizeModel options', () => {
  const wrong: [string, unknown, RegExp][] = [
    ['a misspelt key', { verfy: false }, /unknown option 'verfy'; did you mean 'verify'\?/],
    ['a boolean given as a string', { verify: 'false' }, /verify='false' is not allowed; allowed: true, false/],
    ['verifySamples 0', { verifySamples: 0 }, /verifySamples=0 is not allowed; allowed: an integer from 1 to 256/],
    ['verifySamples NaN', { verifySamples: NaN }, /verifySamples=NaN is not allowed/],
    ['accuracyTarget above 1', { accuracyTarget: 2 }, /accuracyTarget=2 is not allowed; allowed: an output cosine in \(0, 1\], or false to turn it off/],
    ['accuracyTarget 0', { accuracyTarget: 0 }, /accuracyTarget=0 is not allowed/],
    ['accuracyTarget true', { accuracyTarget: true }, /accuracyTarget=true is not allowed/],
    ['threads 1.5', { threads: 1.5 }, /threads=1\.5 is not allowed; allowed: an integer >= 1/],
    ['threads 0', { threads: 0 }, /threads=0 is not allowed/],
    ['onProgress not a function', { onProgress: 'yes' }, /onProgress='yes' is not allowed; allowed: a function/],
    ['externalDataLocation a number', { externalDataLocation: 5 }, /externalDataLocation=5 is not allowed; allowed: a file name/],
    ['samples empty', { samples: [] }, /samples=an array is not allowed; allowed: a non-empty array/],
    ['samples an object', { samples: { x: 1 } }, /samples=\[object Object\] is not allowed/],
    ['a sample not of tensors', { samples: [{ x: new Float32Array(4) }] }, /samples\[0\]\.x is not an onnxruntime Tensor/],
    ['a sample with a NaN', { samples: [x(new Float32Array([0, 1, NaN, 2]))] }, /samples\[0\]\.x holds NaN at element 2: samples must be finite/],
    ['a sample with an infinity', { samples: [x(new Float32Array(3)), x(new Float32Array([0, -Infinity]))] }, /samples\[1\]\.x holds -Infinity at element 1/],
    ['options null', null, /options must be an object, not null/],
  ]
  for (const [what, options, message] of wrong) {
    it(`${what}: refused, naming it`, async () => {
      const err = await rejection(quantizeModel(bytes, cfg, options as never))
      expect(err.message).toMatch(/^quantizeModel options: /)
      expect(err.message).toMatch(message)
    })
  }

  it('samples that do not fit the model\'s inputs: refused before any run, naming the sample, the input and what the model takes', async () => {
    const IN = 'onnx::Flatten_0'
    const good = () => new ort.Tensor('float32', new Float32Array(25 * 96), [1, 25, 96])
    const cases: [string, Record<string, ort.Tensor>[], string][] = [
      ['a missing input', [{ [IN]: good() }, { other: good() }], `samples[1] has no input '${IN}' (the model's inputs: ${IN})`],
      ['another element type', [{ [IN]: new ort.Tensor('int32', new Int32Array(25 * 96), [1, 25, 96]) }], `samples[0].${IN} is int32, but the model's input '${IN}' takes float32`],
      ['other dims', [{ [IN]: new ort.Tensor('float32', new Float32Array(24 * 96), [1, 24, 96]) }], `samples[0].${IN} has dims [1, 24, 96], but the model's input '${IN}' is [1, 25, 96]`],
      ['an extra input', [{ [IN]: good(), extra: good() }], `samples[0].extra is not an input of the model (its inputs: ${IN})`],
    ]
    for (const [what, samples, message] of cases) {
      expect((await rejection(quantizeModel(bytes, cfg, { samples }))).message, what).toBe(`quantizeModel options: ${message}`)
    }
  })

  it('threads past the machine\'s cores are capped there (each holds an onnxruntime session)', () => {
    expect(resolveQuantizeOptions({ threads: 1000 }).threads).toBe(os.availableParallelism())
    expect(resolveQuantizeOptions({ threads: 1 }).threads).toBe(1)
  })

  it('an async onProgress that rejects does not end the process (its return value is ignored)', async () => {
    const { report } = await quantizeModel(bytes, cfg, { sizes: false, onProgress: async () => { throw new Error('caller') } })
    expect(report.nodesQuantized).toBeGreaterThan(0)
  })

  it('a config or an input of the wrong kind is a QuantizeError saying what is expected', async () => {
    expect((await rejection(quantizeModel(bytes, null as never))).message).toMatch(/config must be a cfg file path, a cfg object .* not null/)
    expect((await rejection(quantizeModel(bytes, 8 as never))).message).toMatch(/not number/)
    expect((await rejection(quantizeModel(bytes.buffer as never, cfg))).message).toMatch(/input must be a model file path or the model's bytes \(a Uint8Array or Buffer\), not ArrayBuffer/)
  })

  it('file problems are QuantizeErrors too, each naming the file once', async () => {
    expect((await rejection(quantizeModel('no/such/model.onnx', cfg))).message).toBe('no/such/model.onnx: no such file')
    expect((await rejection(quantizeModel(new Uint8Array(0), cfg))).message).toMatch(/^<bytes>: (?!<bytes>)/)
  })
})

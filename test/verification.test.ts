// Verification runs the float and the quantized model side by side: a quantized model that
// fails where the float one runs is a broken output (an error, never emitted); a model that
// cannot run on the inputs at all only loses its cosine.
import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import { cfgFromObject } from '../src/cfg/index.js'
import { QuantizeError } from '../src/errors.js'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { inputSpecs } from '../src/runtime/feeds.js'
import { verifyModels } from '../src/runtime/verify.js'
import { MODELS } from './helpers/run-cli.js'

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
})

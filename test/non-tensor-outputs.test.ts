// Models that also return sequences or optionals. onnxruntime-node 1.30 ends the process (SIGSEGV)
// when a run returns an empty optional and throws on sequences, so every run of the engine
// fetches tensor outputs only: were one of them to fetch every output, this file's worker would
// crash (each test's model returns an empty optional).
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { AttributeType, DataType, type ModelProto } from '../src/onnx/onnx-types.js'
import { quantizeModel } from '../src/quantize-model.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { generatedFeeds, inputSpecs } from '../src/runtime/feeds.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { writeBins } from './helpers/model-inputs.js'
import { makeTmpDir } from './helpers/run-cli.js'
import { MODELS } from './helpers/models.js'

const SEQUENCE = { sequence_type: { elem_type: { tensor_type: { elem_type: 1 } } } }
const OPTIONAL = { optional_type: { elem_type: SEQUENCE } }

/**
 * `bytes` that also returns an empty optional, and `output` as a sequence and as an optional
 * sequence (opset raised to 15 where lower: Optional is an opset 15 op). `keepTensors: false`
 * leaves only those three outputs.
 */
function withNonTensorOutputs(bytes: Uint8Array, output: string, keepTensors = true): { bytes: Uint8Array; model: ModelProto } {
  const model = decodeModelProto(bytes)
  const g = model.graph!
  g.node!.push({ op_type: 'Optional', name: 'empty_optional', output: ['nothing'], attribute: [{ name: 'type', type: AttributeType.TYPE_PROTO, tp: SEQUENCE }] })
  g.node!.push({ op_type: 'SequenceConstruct', name: 'to_sequence', input: [output], output: ['seq'] })
  g.node!.push({ op_type: 'Optional', name: 'to_optional', input: ['seq'], output: ['opt'] })
  g.output = [...(keepTensors ? g.output! : []), { name: 'nothing', type: OPTIONAL }, { name: 'seq', type: SEQUENCE }, { name: 'opt', type: OPTIONAL }]
  for (const o of model.opset_import ?? []) if (!o.domain && Number(o.version) < 15) o.version = 15
  return { bytes: encodeModelProto(model), model }
}

let tmp: string
beforeAll(() => {
  tmp = makeTmpDir('non-tensor-outputs')
})
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true })
})

describe('models with sequence and optional outputs', () => {
  it('WEIGHT_QUANT: verified, ranked and debugged on the tensor outputs, and the others kept', async () => {
    const { bytes, model } = withNonTensorOutputs(new Uint8Array(fs.readFileSync(MODELS.sileroOp18)), 'stateN')
    const debugDir = path.join(tmp, 'debug')
    // a target past reach, so that the weights are ranked in the fed session
    const result = await quantizeModel(bytes, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8, debug_info_save_path: debugDir } }, { sizes: false, accuracyTarget: 0.9999999 })
    const v = result.report.verification!
    expect(v.error).toBeNull()
    expect(v.outputs.map((o) => o.name)).toEqual(['output', 'stateN'])
    expect(v.cosine).toBeGreaterThanOrEqual(0.9999)
    expect(result.report.accuracy!.rankingSamples).toBe(4)
    // the first score, then one variant per weight
    expect(result.report.accuracy!.scored).toBeGreaterThan(result.report.layers.length)
    expect(fs.readFileSync(path.join(debugDir, 'output_summary.csv'), 'utf8')).toMatch(/stateN/)
    const out = decodeModelProto(result.model)
    expect(out.graph!.output!.map((o) => o.name)).toEqual(['output', 'stateN', 'nothing', 'seq', 'opt'])
    expect(out.graph!.output![2]!.type?.optional_type).toBeDefined()
    // and it runs in onnxruntime next to the float model, on the same tensor outputs
    const cmp = await compareModels(bytes, result.model, [generatedFeeds(inputSpecs(model), 7)])
    expect(cmp.outputs.map((o) => o.name)).toEqual(['output', 'stateN'])
    expect(cmp.cosine).toBeGreaterThan(0.999)
  })

  it('FULL_QUANT: calibrated, judged and verified on the tensor output', async () => {
    const { bytes, model } = withNonTensorOutputs(new Uint8Array(fs.readFileSync(MODELS.helloDeepa)), '39')
    const bins = path.join(tmp, 'bins')
    const [spec] = inputSpecs(model)
    writeBins(bins, [100, 101, 102, 103, 104, 105, 106, 107].map((seed) => generatedFeeds([spec!], seed)), spec!.name)
    const result = await quantizeModel(bytes, {
      common_quant_param: { quant_type: 'FULL_QUANT', bit_num: 8 },
      data_preprocess_param: { calibrate_path: bins, calibrate_size: 6, input_type: 'BIN' },
    }, { sizes: false })
    expect(result.report.full!.activations.length).toBeGreaterThan(0)
    const v = result.report.verification!
    expect(v.error).toBeNull()
    expect(v.inputs).toBe('held-out')
    expect(v.outputs.map((o) => o.name)).toEqual(['39'])
    expect(v.cosine).toBeGreaterThan(0.99)
    expect(decodeModelProto(result.model).graph!.output!.map((o) => o.name)).toEqual(['39', 'nothing', 'seq', 'opt'])
  })

  it('a model with no tensor output is written unverified, and the accuracy target says why it was skipped', async () => {
    const { bytes } = withNonTensorOutputs(new Uint8Array(fs.readFileSync(MODELS.helloDeepa)), '39', false)
    const result = await quantizeModel(bytes, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 6 } }, { sizes: false })
    expect(result.report.nodesQuantized).toBeGreaterThan(0)
    expect(result.report.cosineSimilarity).toBeNull()
    expect(result.report.verification!.error).toMatch(/no tensor outputs of numbers to compare/)
    expect(result.report.warnings.join('\n')).toMatch(/accuracy target skipped: the model has no tensor outputs of numbers to compare/)
  })
})

describe('models with string outputs', () => {
  // a classifier that also looks its label up: scores, then Gather(labels, ArgMax(scores))
  const labelled = (withScores: boolean) => {
    const m = decodeModelProto(buildModel({
      nodes: [node('MatMul', ['x', 'w'], ['scores']), node('ArgMax', ['scores'], ['best'], { axis: 1, keepdims: 0 }), node('Gather', ['labels', 'best'], ['label'])],
      initializers: [randomTensor('w', [64, 6], 8)],
      inputs: [valueInfo('x', DataType.FLOAT, [2, 64])],
      outputs: [...(withScores ? [valueInfo('scores', DataType.FLOAT, [2, 6])] : []), valueInfo('label', DataType.STRING, [2])],
    }))
    m.graph!.initializer!.push({ name: 'labels', data_type: DataType.STRING, dims: [6], string_data: ['a', 'b', 'c', 'd', 'e', 'f'].map((l) => new TextEncoder().encode(l)) })
    return encodeModelProto(m)
  }
  const cfg = { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8, min_quant_weight_channel: 0 } }

  it('are left out of the comparison: the cosine is the numeric outputs\' (it was NaN)', async () => {
    const result = await quantizeModel(labelled(true), cfg, { sizes: false })
    expect(result.report.verification!.outputs.map((o) => o.name)).toEqual(['scores'])
    expect(result.report.cosineSimilarity).toBeGreaterThan(0.999)
    expect(result.report.accuracy?.cosineAfter).toBeGreaterThan(0.999)
  })

  it('a model whose only output is a string is written unverified, saying why', async () => {
    const result = await quantizeModel(labelled(false), cfg, { sizes: false })
    expect(result.report.nodesQuantized).toBe(1)
    expect(result.report.cosineSimilarity).toBeNull()
    expect(result.report.verification!.error).toMatch(/no tensor outputs of numbers to compare \(only strings, sequences, maps or optionals\)/)
  })
})

// Bias correction (WEIGHT_QUANT with inputs): the shift rounding gives each output channel is
// taken out of the op's float bias, on graphs built here to pin what the real models do not
// have: Gemm's alpha and beta, and a bias something else reads too.
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { AttributeType, DataType, type ModelProto, type NodeProto } from '../src/onnx/onnx-types.js'
import { tensorToFloat32 } from '../src/onnx/tensor-data.js'
import { quantizeModel } from '../src/quantize-model.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { outputsDifference, runOnce } from './helpers/ort-run.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'

const F = DataType.FLOAT
const cfg = { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8, min_quant_weight_channel: 0 } }
const run = { verify: false, accuracyTarget: false, errorFeedback: false, sizes: false, debug: false } as const

/** [4, 64] inputs whose channels have means from -6 to 6: rounding then shifts every output. */
function inputs(seed: number): Record<string, ort.Tensor> {
  const rand = seededRandom(seed)
  const x = Float32Array.from({ length: 4 * 64 }, (_, i) => (((i % 64) * 37) % 13) - 6 + (rand() - 0.5) * 0.2)
  return { X: new ort.Tensor('float32', x, [4, 64]), flag: new ort.Tensor('bool', [true], []) }
}
const samples = [1, 2, 3, 4].map(inputs)
const heldOut = inputs(99)

function gemm(alpha: number, beta: number): NodeProto {
  return {
    name: 'gemm', op_type: 'Gemm', input: ['X', 'W', 'C'], output: ['Y'],
    attribute: [{ name: 'alpha', type: AttributeType.FLOAT, f: alpha }, { name: 'beta', type: AttributeType.FLOAT, f: beta }],
  }
}

function model(nodes: NodeProto[], outputs = [valueInfo('Y', F, [4, 32])]): Uint8Array {
  return buildModel({
    nodes, initializers: [randomTensor('W', [64, 32], 5), randomTensor('C', [32], 6)],
    inputs: [valueInfo('X', F, [4, 64]), valueInfo('flag', DataType.BOOL, [])], outputs,
  })
}

/** Mean |quantized - float| of output `name` on the held-out input. */
async function meanError(float: Uint8Array, quantized: Uint8Array, name = 'Y'): Promise<number> {
  const [a, b] = [(await runOnce(float, heldOut))[name]!.data as Float32Array, (await runOnce(quantized, heldOut))[name]!.data as Float32Array]
  let s = 0
  for (let i = 0; i < a.length; i++) s += Math.abs(b[i]! - a[i]!)
  return s / a.length
}

describe('bias correction', () => {
  it('undoes the shift through Gemm alpha and beta: the held-out error falls at least tenfold for each', async () => {
    for (const [alpha, beta] of [[1, 1], [-1, 1], [3, 1], [1, 0.25], [-2, 4]] as const) {
      const float = model([gemm(alpha, beta)])
      const plain = await quantizeModel(float, cfg, { ...run, samples, biasCorrection: false })
      const corrected = await quantizeModel(float, cfg, { ...run, samples })
      expect(corrected.report.biasCorrected, `alpha ${alpha} beta ${beta}`).toBe(1)
      const [before, after] = [await meanError(float, plain.model), await meanError(float, corrected.model)]
      expect(after, `alpha ${alpha} beta ${beta}: ${before} -> ${after}`).toBeLessThan(before / 10)
    }
  })

  it('a bias listed as a graph input: corrected below IR 4 or where every initializer is listed (the old habit), left alone where it alone is (overridable) and under Gemm beta 0', async () => {
    const listing = (ir: number, names: string[]) => {
      const m = decodeModelProto(model([gemm(1, 1)]))
      m.ir_version = ir
      m.graph!.input!.push(...names.map((n) => valueInfo(n, F, n === 'W' ? [64, 32] : [32])))
      return encodeModelProto(m)
    }
    for (const [what, float, corrected] of [
      ['IR 3, W and C listed', listing(3, ['W', 'C']), 1],
      ['IR 6, W and C listed', listing(6, ['W', 'C']), 1],
      ['IR 8, C listed', listing(8, ['C']), 0],
      // a Gemm whose beta is 0: its C never reaches the output
      ['beta 0', model([gemm(1, 0)]), 0],
    ] as const) {
      const q = await quantizeModel(float, cfg, { ...run, samples })
      expect(q.report.biasCorrected, what).toBe(corrected)
    }
  })

  it('where every initializer is listed (the old habit), corrects every weight\'s bias as the unlisted model does, not only that of the first weight rewritten', async () => {
    // rewriting a weight adds initializers that are not listed: the model no longer looks like the habit
    const twoGemms = (): ModelProto => {
      const m = decodeModelProto(buildModel({
        nodes: [{ ...gemm(1, 1), name: 'gemm1', output: ['H'] }, { ...gemm(1, 1), name: 'gemm2', input: ['H', 'W2', 'C2'] }],
        initializers: [randomTensor('W', [64, 32], 5), randomTensor('C', [32], 6), randomTensor('W2', [32, 32], 7), randomTensor('C2', [32], 8)],
        inputs: [valueInfo('X', F, [4, 64]), valueInfo('flag', DataType.BOOL, [])], outputs: [valueInfo('Y', F, [4, 32])],
      }))
      m.ir_version = 6
      return m
    }
    const unlisted = twoGemms()
    const listed = twoGemms()
    listed.graph!.input!.push(...listed.graph!.initializer!.map((t) => valueInfo(t.name!, F, t.dims!.map(Number))))
    /** Each initializer, by name. */
    const weights = (bytes: Uint8Array) => new Map(decodeModelProto(bytes).graph!.initializer!.map((t) => [t.name!, t]))
    for (const bits of [8, 0]) {
      const cfgBits = { common_quant_param: { ...cfg.common_quant_param, bit_num: bits } }
      const q = await quantizeModel(encodeModelProto(listed), cfgBits, { ...run, samples })
      const p = await quantizeModel(encodeModelProto(unlisted), cfgBits, { ...run, samples })
      expect(q.report.biasCorrected, `bit_num=${bits}`).toBe(2)
      expect(p.report.biasCorrected, `bit_num=${bits}`).toBe(2)
      // the same corrections: every weight and bias the same values as the unlisted model's
      const [got, want] = [weights(q.model), weights(p.model)]
      expect([...got.keys()].sort(), `bit_num=${bits}`).toEqual([...want.keys()].sort())
      for (const [name, w] of want) expect(got.get(name), `bit_num=${bits} ${name}`).toEqual(w)
      // and each bias moved off its float values
      for (const name of ['C', 'C2']) expect(tensorToFloat32(got.get(name)!), `bit_num=${bits} ${name}`).not.toEqual(tensorToFloat32(unlisted.graph!.initializer!.find((t) => t.name === name)!))
      // the two models compute the same outputs
      expect(outputsDifference(await runOnce(q.model, heldOut), await runOnce(p.model, heldOut)), `bit_num=${bits}`).toBeNull()
    }
  })

  it('leaves alone a bias that is also a graph output or read inside an If branch: those readers see the float values', async () => {
    const branch = (op: string, out: string) => ({ name: out, node: [node(op, ['C', 'C'], [out])], output: [valueInfo(out, F, [32])] })
    const readInIf: NodeProto = {
      name: 'if', op_type: 'If', input: ['flag'], output: ['Z'],
      attribute: [{ name: 'then_branch', type: AttributeType.GRAPH, g: branch('Mul', 't') }, { name: 'else_branch', type: AttributeType.GRAPH, g: branch('Add', 'e') }],
    }
    const cases: [string, Uint8Array, string][] = [
      ['Gemm bias as a graph output', model([gemm(1, 1)], [valueInfo('Y', F, [4, 32]), valueInfo('C', F, [32])]), 'C'],
      ['Gemm bias read in an If', model([gemm(1, 1), readInIf], [valueInfo('Y', F, [4, 32]), valueInfo('Z', F, [32])]), 'Z'],
      ['MatMul + Add bias read in an If', model([node('MatMul', ['X', 'W'], ['M']), node('Add', ['M', 'C'], ['Y']), readInIf], [valueInfo('Y', F, [4, 32]), valueInfo('Z', F, [32])]), 'Z'],
    ]
    for (const [what, float, other] of cases) {
      const q = await quantizeModel(float, cfg, { ...run, samples })
      expect(q.report.biasCorrected, what).toBe(0)
      expect(q.report.nodesQuantized, what).toBe(1)
      expect(await meanError(float, q.model, other), what).toBe(0)
    }
  })

  it('leaves alone a bias whose name is defined twice: onnxruntime may read the other definition, so the edit would be counted but not computed with', async () => {
    const twice = (add: (m: ModelProto) => void) => decodeThen(model([node('MatMul', ['X', 'W'], ['M']), node('Add', ['M', 'C'], ['Y'])]), add)
    const cases: [string, Uint8Array][] = [
      ['two initializers', twice((m) => m.graph!.initializer!.push(randomTensor('C', [32], 7)))],
      ['an initializer and a Constant', twice((m) => m.graph!.node!.unshift({ name: 'c', op_type: 'Constant', output: ['C'], attribute: [{ name: 'value', type: AttributeType.TENSOR, t: randomTensor('C', [32], 7) }] }))],
      ['Gemm bias, two initializers', decodeThen(model([gemm(1, 1)]), (m) => m.graph!.initializer!.push(randomTensor('C', [32], 7)))],
    ]
    // the same graph with the bias defined once is corrected
    expect((await quantizeModel(model([node('MatMul', ['X', 'W'], ['M']), node('Add', ['M', 'C'], ['Y'])]), cfg, { ...run, samples })).report.biasCorrected).toBe(1)
    for (const [what, float] of cases) {
      const q = await quantizeModel(float, cfg, { ...run, samples })
      expect(q.report.biasCorrected, what).toBe(0)
      expect(q.report.nodesQuantized, what).toBe(1)
      expect(q.model, what).toEqual((await quantizeModel(float, cfg, { ...run, samples, biasCorrection: false })).model)
    }
  })

  it('leaves alone a square weight its op reads through a Transpose: the op\'s [K, N] is not the stored [out, in], so the sums would pick the wrong channels', async () => {
    // PyTorch Linear kept as MatMul(x, Transpose(W)) with W [out, in], as exporters write it
    // without constant folding: square in every attention projection
    const W = randomTensor('W', [64, 64], 5)
    const stored = new Float32Array(W.raw_data!.slice().buffer)
    const transposed = Float32Array.from(stored, (_, i) => stored[(i % 64) * 64 + Math.floor(i / 64)]!)
    const build = (nodes: NodeProto[], w: typeof W) => buildModel({
      nodes, initializers: [w, randomTensor('C', [64], 6)],
      inputs: [valueInfo('X', F, [4, 64]), valueInfo('flag', DataType.BOOL, [])], outputs: [valueInfo('Y', F, [4, 64])],
    })
    const direct = build([node('MatMul', ['X', 'W'], ['M']), node('Add', ['M', 'C'], ['Y'])], { ...W, raw_data: new Uint8Array(transposed.buffer) })
    const viaTranspose = build([node('Transpose', ['W'], ['WT']), node('MatMul', ['X', 'WT'], ['M']), node('Add', ['M', 'C'], ['Y'])], W)
    const viaGemm = build([node('Transpose', ['W'], ['WT']), { ...node('Gemm', ['X', 'WT', 'C'], ['Y'], { transB: 1 }), name: 'gemm' }], { ...W, raw_data: new Uint8Array(transposed.buffer) })
    // the same product read directly is corrected, so the inputs do call for a correction
    expect((await quantizeModel(direct, cfg, { ...run, samples })).report.biasCorrected).toBe(1)
    for (const [what, float] of [['MatMul(X, Transpose(W))', viaTranspose], ['Gemm(X, Transpose(W), transB=1)', viaGemm]] as const) {
      const plain = await quantizeModel(float, cfg, { ...run, samples, biasCorrection: false })
      const q = await quantizeModel(float, cfg, { ...run, samples })
      expect(q.report.nodesQuantized, what).toBe(1)
      expect(q.report.biasCorrected, what).toBe(0)
      expect(await meanError(float, q.model), what).toBe(await meanError(float, plain.model))
    }
  })
})

function decodeThen(bytes: Uint8Array, edit: (m: ModelProto) => void): Uint8Array {
  const m = decodeModelProto(bytes)
  edit(m)
  return encodeModelProto(m)
}

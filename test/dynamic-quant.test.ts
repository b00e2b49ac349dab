// DYNAMIC_QUANT: MatMul/Gemm weights become int8 and their activations are quantized at run
// time, in the form onnxruntime fuses into DynamicQuantizeMatMul; everything runs in
// onnxruntime-node against the float model on inputs the quantizer never saw.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, describe, expect, it } from 'vitest'
import { INT8_SATURATES } from './helpers/int8-cpu.js'
import { CfgError } from '../src/cfg/index.js'
import { decodeModelProto } from '../src/onnx/codec.js'
import { allGraphScopes, opsetVersion } from '../src/onnx/graph-walk.js'
import { AttributeType, DataType, type ModelProto, type NodeProto } from '../src/onnx/onnx-types.js'
import { quantizeModel } from '../src/quantize-model.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { buildTransformer, tokenIds } from './helpers/build-transformer.js'
import { greedyCtc, loadOcrKeys } from './helpers/ctc-decode.js'
import { recSamples } from './helpers/model-inputs.js'
import { optimizedModel, runOnce } from './helpers/ort-run.js'
import { ROOT } from './helpers/run-cli.js'
import { MODELS } from './helpers/models.js'

const DYNAMIC = { common_quant_param: { quant_type: 'DYNAMIC_QUANT', bit_num: 8 } }
const REC = MODELS.rec
const CFG = path.join(ROOT, 'test/fixtures/cfg-modes')
// a small vocabulary keeps the build fast; every other dim is TinyBERT's
const SHAPE = { vocab: 2000 }

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dynamic-quant-test-'))
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

function nodes(model: ModelProto): NodeProto[] {
  return allGraphScopes(model).flatMap((s) => s.graph.node ?? [])
}

function count(model: ModelProto, op: string): number {
  return nodes(model).filter((n) => n.op_type === op).length
}

/**
 * Each rewritten MatMul reads DynamicQuantizeLinear(x) → MatMulInteger(xq, Wq, xzp) → Cast →
 * Mul(·, Mul(x_scale, W_scale)), and every DynamicQuantizeLinear output has exactly one reader:
 * the conditions of onnxruntime's DynamicQuantizeMatMul fusion.
 */
function expectFusableChains(model: ModelProto): number {
  const all = nodes(model)
  const producer = new Map<string, NodeProto>()
  const readers = new Map<string, NodeProto[]>()
  for (const n of all) {
    for (const o of n.output ?? []) producer.set(o, n)
    for (const i of n.input ?? []) if (i) readers.set(i, [...(readers.get(i) ?? []), n])
  }
  const chains = all.filter((n) => n.op_type === 'MatMulInteger')
  for (const mm of chains) {
    const dql = producer.get(mm.input![0]!)!
    expect(dql.op_type).toBe('DynamicQuantizeLinear')
    expect(mm.input![2]).toBe(dql.output![2])
    for (const out of dql.output!) expect(readers.get(out)).toHaveLength(1)
    const weight = producer.get(mm.input![1]!)
    expect(weight?.op_type === 'Constant' || model.graph!.initializer!.some((t) => t.name === mm.input![1] && t.data_type === DataType.INT8)).toBe(true)
    const cast = readers.get(mm.output![0]!)!
    expect(cast.map((n) => n.op_type)).toEqual(['Cast'])
    const mul = readers.get(cast[0]!.output![0]!)!
    expect(mul.map((n) => n.op_type)).toEqual(['Mul'])
    const scale = producer.get(mul[0]!.input!.find((i) => i !== cast[0]!.output![0])!)!
    expect(scale.op_type).toBe('Mul')
    expect(scale.input![0]).toBe(dql.output![1])
  }
  return chains.length
}

describe('DYNAMIC_QUANT on a TinyBERT-shaped encoder', async () => {
  const float = buildTransformer(SHAPE)
  const feeds = (seed: number) => ({ input_ids: new ort.Tensor('int64', tokenIds(seed, SHAPE), [1, 128]) })
  const { model, report } = await quantizeModel(float, path.join(CFG, 'dynamic.cfg'), { samples: [feeds(1), feeds(2)], sizes: false })
  const quantized = decodeModelProto(model)

  it('turns every MatMul with a constant weight into int8 and leaves activation x activation MatMuls float', () => {
    // 6 dense layers (Q, K, V, attention out, FFN up, FFN down) in each of 4 layers
    expect(report.dynamic!.int8).toHaveLength(24)
    expect(report.dynamic!.int8.every((n) => n.opType === 'MatMul' && n.relativeError < 0.01)).toBe(true)
    expect(count(quantized, 'MatMul')).toBe(8) // the two attention products per layer
    expect(report.dynamic!.opsetUpgrade).toBeNull()
  })

  it('stores the word-embedding table as weight-only int8', () => {
    expect(report.dynamic!.weightOnly.map((w) => [w.tensor, w.opType])).toEqual([['word_embeddings', 'Gather']])
    expect(report.sizeOut).toBeLessThan(report.sizeIn * 0.3)
  })

  it('emits the DynamicQuantizeMatMul-fusable chain, and onnxruntime fuses all of it', async () => {
    expect(expectFusableChains(quantized)).toBe(24)
    const optimized = await optimizedModel(model)
    expect(count(optimized, 'MatMulInteger')).toBe(0)
    expect(count(optimized, 'DynamicQuantizeMatMul') + count(optimized, 'MatMulIntegerToFloat')).toBe(24)
  })

  it('keeps output cosine >= 0.99 on held-out token ids', async () => {
    const held = [feeds(101), feeds(202), feeds(303)]
    const cmp = await compareModels(float, model, held, { int8: 'exact' })
    expect(cmp.cosine).toBeGreaterThanOrEqual(0.99)
    expect(report.cosineSimilarity).toBeGreaterThanOrEqual(0.99)
  })
})

describe('DYNAMIC_QUANT on PP-OCRv4 rec', async () => {
  const { model, report } = await quantizeModel(REC, DYNAMIC, { verify: false, sizes: false })
  const quantized = decodeModelProto(model)

  it('raises opset 9 to 11 for DynamicQuantizeLinear, rewriting Clip and Slice to their input forms', () => {
    expect(opsetVersion(quantized)).toBe(11)
    expect(report.dynamic!.opsetUpgrade).toEqual({ from: 9, to: 11, rewritten: { Clip: 28, Slice: 10 } })
    expect(nodes(quantized).filter((n) => n.op_type === 'Clip' || n.op_type === 'Slice').every((n) => (n.attribute ?? []).length === 0)).toBe(true)
  })

  it('makes the 8 attention MatMuls int8, leaves the output head and the convolutions float and says why', () => {
    expect(report.dynamic!.int8).toHaveLength(8)
    expect(expectFusableChains(quantized)).toBe(8)
    // the 120x6625 CTC head: int8 there flips near-tie characters
    const head = report.dynamic!.float.filter((f) => f.opType === 'MatMul')
    expect(head.map((f) => f.tensor)).toEqual(['linear_85.w_0'])
    expect(head[0]!.reason).toMatch(/output head/)
    expect(report.dynamic!.weightOnly).toEqual([])
    expect(count(quantized, 'ConvInteger')).toBe(0)
    expect(report.dynamic!.convolutions).toBe('float')
    const convs = report.dynamic!.float.filter((f) => f.opType === 'Conv')
    expect(convs.length).toBeGreaterThan(30)
    expect(convs.every((f) => /ConvInteger is slower/.test(f.reason) || /min_quant_weight/.test(f.reason))).toBe(true)
    // the nodes kept float count as skipped, as the cfg's skips do
    expect(report.nodesSkipped).toBe(new Set(report.dynamic!.float.flatMap((f) => f.nodes)).size)
  })

  it('on a model with no MatMul or Gemm to quantize (PP-OCR cls) says the output is the float model', async () => {
    const cls = MODELS.cls
    const { model, report: r } = await quantizeModel(cls, DYNAMIC, { verify: false, sizes: false })
    expect(r.nodesQuantized).toBe(0)
    expect(r.nodesSkipped).toBeGreaterThan(50)
    expect(r.warnings).toContainEqual(expect.stringMatching(/^DYNAMIC_QUANT quantized no weight, the output is the float model \(\d+ x Conv: convolution .*; 1 x MatMul: output head.*\); WEIGHT_QUANT stores convolution weights in int8, FULL_QUANT also computes them in int8$/))
    expect(model.byteLength).toBe(fs.statSync(cls).size)
  })

  it('reads the same text as fp32 on held-out word images, output cosine >= 0.999', async () => {
    const keys = loadOcrKeys()
    const samples = await recSamples(4, 7100)
    const cmp = await compareModels(REC, model, samples, { int8: 'exact' })
    expect(cmp.cosine).toBeGreaterThanOrEqual(0.999)
    for (const feeds of samples) {
      const a = await runOnce(REC, feeds)
      const b = await runOnce(model, feeds, 'exact')
      const name = Object.keys(a)[0]!
      expect(greedyCtc(b[name]!, keys)).toBe(greedyCtc(a[name]!, keys))
    }
  })
})

describe('DYNAMIC_QUANT on Gemm, skip_quant_node and thresholds', () => {
  // y = 0.5 * x W^T + 2 * C, then a MatMul: Gemm's transB, alpha and beta all fold into the int8 form
  const float = buildModel({
    nodes: [
      { ...node('Gemm', ['x', 'W', 'C'], ['h'], { transB: 1 }), attribute: [
        { name: 'transB', type: AttributeType.INT, i: 1 }, { name: 'alpha', type: AttributeType.FLOAT, f: 0.5 }, { name: 'beta', type: AttributeType.FLOAT, f: 2 },
      ] },
      node('MatMul', ['h', 'W2'], ['m']),
      node('Relu', ['m'], ['y']),
    ],
    initializers: [randomTensor('W', [48, 64], 11), randomTensor('C', [48], 12), randomTensor('W2', [48, 32], 13)],
    inputs: [valueInfo('x', DataType.FLOAT, [4, 64])],
    outputs: [valueInfo('y', DataType.FLOAT, [4, 32])],
    opset: 13,
  })

  it('Gemm with transB, alpha and beta computes the same as float', async () => {
    const { model, report } = await quantizeModel(float, DYNAMIC, { sizes: false })
    // dims as the float model has them (and layers[] and quant_param.csv give them); transB's weight is read transposed
    expect(report.dynamic!.int8.map((n) => [n.opType, n.dims, n.transposed])).toEqual([['Gemm', [48, 64], true], ['MatMul', [48, 32], false]])
    expect(report.layers.map((l) => l.dims)).toEqual([[48, 64], [48, 32]])
    expect(count(decodeModelProto(model), 'Gemm')).toBe(0)
    expect(report.cosineSimilarity).toBeGreaterThanOrEqual(0.999)
    // where onnxruntime-node's int8 kernels saturate, and only there, the report warns and gives
    // the cosine they reach beside the exact one
    expect(report.warnings.some((w) => w.includes('no VNNI'))).toBe(INT8_SATURATES)
    if (INT8_SATURATES) expect(report.verification!.nativeInt8Cosine).toBeGreaterThan(0)
    else expect(report.verification!.nativeInt8Cosine).toBeNull()
  })

  it('skip_quant_node keeps a node float; the size thresholds are forced to 0 as the format says', async () => {
    const cfg = { common_quant_param: { ...DYNAMIC.common_quant_param, skip_quant_node: 'MatMul_m', min_quant_weight_size: 60000 } }
    const { model, report } = await quantizeModel(float, cfg, { sizes: false })
    expect(report.dynamic!.int8.map((n) => n.node)).toEqual(['Gemm_h'])
    expect(report.dynamic!.float).toEqual([{ nodes: ['MatMul_m'], opType: 'MatMul', tensor: 'W2', reason: 'skip_quant_node' }])
    expect(count(decodeModelProto(model), 'MatMul')).toBe(1)
    expect(report.cosineSimilarity).toBeGreaterThanOrEqual(0.999)
  })
})

describe('DYNAMIC_QUANT on old opsets', () => {
  it('raises opset 9 to 11 through Pad and Clip with attributes, with the same results', async () => {
    const pad: NodeProto = { ...node('Pad', ['x'], ['p']), attribute: [
      { name: 'pads', type: AttributeType.INTS, ints: [0, 1, 0, 0, 1, 0] }, { name: 'value', type: AttributeType.FLOAT, f: 0.5 },
    ] }
    const clip: NodeProto = { ...node('Clip', ['m'], ['y']), attribute: [{ name: 'min', type: AttributeType.FLOAT, f: -0.2 }, { name: 'max', type: AttributeType.FLOAT, f: 0.3 }] }
    const float = buildModel({
      nodes: [pad, node('MatMul', ['p', 'W'], ['m']), clip],
      initializers: [randomTensor('W', [32, 16], 41)],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 4, 32])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 6, 16])],
      opset: 9,
    })
    const { model, report } = await quantizeModel(float, DYNAMIC, { sizes: false })
    expect(report.dynamic!.opsetUpgrade).toEqual({ from: 9, to: 11, rewritten: { Pad: 1, Clip: 1 } })
    expect(report.dynamic!.int8).toHaveLength(1)
    expect(report.cosineSimilarity).toBeGreaterThanOrEqual(0.999)
    // the padded rows hold the pad value and the clip bounds hold: compare with float directly
    const x = new ort.Tensor('float32', Float32Array.from({ length: 128 }, (_, i) => Math.sin(i)), [1, 4, 32])
    const a = (await runOnce(float, { x })).y!.data as Float32Array
    const b = (await runOnce(model, { x }, 'exact')).y!.data as Float32Array
    expect(Math.max(...b)).toBe(Math.fround(0.3))
    expect(Math.min(...b)).toBe(Math.fround(-0.2))
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(0.02)
  })

  it('keeps opset 9 when Upsample is present: MatMul weights int8 stored, float compute, and a warning', async () => {
    const float = buildModel({
      nodes: [node('MatMul', ['x', 'W'], ['m']), node('Upsample', ['m', 'scales'], ['y'])],
      initializers: [randomTensor('W', [32, 32], 31), { ...randomTensor('scales', [3], 32), raw_data: new Uint8Array(Float32Array.of(1, 1, 2).buffer) }],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 4, 32])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 4, 64])],
      opset: 9,
    })
    const { model, report } = await quantizeModel(float, DYNAMIC, { sizes: false })
    expect(opsetVersion(decodeModelProto(model))).toBe(9)
    expect(report.dynamic!.int8).toEqual([])
    expect(report.dynamic!.weightOnly.map((w) => [w.tensor, w.reason])).toEqual([['W', 'opset 9 < 11 and Upsample changed meaning by opset 11']])
    expect(report.warnings.some((w) => /Upsample/.test(w))).toBe(true)
    expect(report.cosineSimilarity).toBeGreaterThanOrEqual(0.999)
  })
})

describe('DYNAMIC_QUANT output head', () => {
  it('stays float by default also when its weight reaches it through a Transpose (which alone would make it weight-only)', async () => {
    // PyTorch's Linear head without constant folding: MatMul(h, Transpose(W [out, in]))
    const float = buildModel({
      nodes: [node('MatMul', ['x', 'W1'], ['h']), node('Relu', ['h'], ['r']), node('Transpose', ['W2'], ['W2T']), node('MatMul', ['r', 'W2T'], ['logits']), node('Softmax', ['logits'], ['y'])],
      initializers: [randomTensor('W1', [32, 48], 51), randomTensor('W2', [10, 48], 52)],
      inputs: [valueInfo('x', DataType.FLOAT, [4, 32])],
      outputs: [valueInfo('y', DataType.FLOAT, [4, 10])],
      opset: 13,
    })
    const { report } = await quantizeModel(float, DYNAMIC, { sizes: false, verify: false })
    expect(report.dynamic!.int8.map((n) => n.tensor)).toEqual(['W1'])
    expect(report.dynamic!.weightOnly).toEqual([])
    expect(report.dynamic!.float.map((f) => [f.tensor, f.reason])).toEqual([['W2', expect.stringMatching(/^output head/)]])
  })
})

describe('DYNAMIC_QUANT weight-only reasons', () => {
  it('an embedding table tied to a projection (Gather and MatMul through a Transpose) is weight-only for being shared, not "MatMul\'s first input"', async () => {
    // the Gather reads the table at input 0, which is not a MatMul's first input
    const float = buildModel({
      nodes: [node('Gather', ['E', 'ids'], ['e']), node('Relu', ['e'], ['h']), node('Transpose', ['E'], ['ET']), node('MatMul', ['h', 'ET'], ['l']), node('Relu', ['l'], ['y'])],
      initializers: [randomTensor('E', [50, 32], 1)],
      inputs: [valueInfo('ids', DataType.INT64, [4])], outputs: [valueInfo('y', DataType.FLOAT, [4, 50])], opset: 13,
    })
    const { report } = await quantizeModel(float, DYNAMIC, { sizes: false, verify: false })
    expect(report.dynamic!.int8).toEqual([])
    expect(report.dynamic!.float).toEqual([])
    expect(report.dynamic!.weightOnly.map((w) => [w.tensor, w.reason])).toEqual([['E', 'weight is also read by Gather (a tied embedding): int8 stored, decoded to float at load for every op']])
  })
})

describe('DYNAMIC_QUANT cfg errors', () => {
  it('bit_num=4 with DYNAMIC_QUANT names the file, line, key and the allowed value', async () => {
    const file = path.join(CFG, 'dynamic-bit-4.cfg')
    const err = await quantizeModel(buildTransformer({ ...SHAPE, layers: 1 }), file, { verify: false }).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(CfgError)
    expect((err as CfgError).file).toBe(file)
    expect((err as CfgError).line).toBe(4)
    expect((err as CfgError).key).toBe('bit_num')
    expect((err as Error).message).toBe(`${file}:4: bit_num=4 is not allowed for DYNAMIC_QUANT; allowed: 8`)
  })
})

import fs from 'node:fs'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { allGraphScopes } from '../src/onnx/graph-walk.js'
import { loadModel, saveModel } from '../src/onnx/model-file.js'
import { AttributeType, DataType, type GraphProto, type NodeProto } from '../src/onnx/onnx-types.js'
import { makeTensor } from '../src/onnx/tensor-data.js'
import { notRunExternal } from '../src/modes/mode.js'
import { quantizeModel } from '../src/quantize-model.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { inputSpecs, seededRandom, uniformFeeds, type Feeds } from '../src/runtime/feeds.js'
import { writeFilesAtomic } from '../src/write-atomic.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { clsSamples, recSamples, sileroSamples, writeBins } from './helpers/model-inputs.js'
import { escapeRegExp } from './helpers/escape-regexp.js'
import { makeTmpDir } from './helpers/run-cli.js'
import { MODELS } from './helpers/models.js'

// Which weights WEIGHT_QUANT takes, by the cfg's thresholds and skip list, and where it finds them.

const CLS = MODELS.cls
const DET = MODELS.det
const REC = MODELS.rec
const V5 = MODELS.sileroV5
const LEGACY = MODELS.sileroLegacy
const WAKE = MODELS.helloDeepa
const run = { verify: false, accuracyTarget: false, sizes: false } as const
const cfg = (extra: Record<string, string | number> = {}) => ({ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8, ...extra } })
// a fresh folder per run: runs side by side do not share one, and a crashed run's leftovers
// cannot meet the next
let tmp: string
beforeAll(() => {
  tmp = makeTmpDir('weight-selection')
})
afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true })
})

/** Element types of every constant tensor that feeds the named nodes, across subgraphs. */
function weightTypesFeeding(bytes: Uint8Array, nodeNames: Set<string>): number[] {
  const model = decodeModelProto(bytes)
  const producers = new Map<string, number>()
  for (const { graph } of allGraphScopes(model)) {
    for (const t of graph.initializer ?? []) producers.set(t.name ?? '', t.data_type ?? 0)
    for (const n of graph.node ?? []) {
      if (n.op_type === 'Constant') producers.set(n.output![0]!, n.attribute?.find((a) => a.name === 'value')?.t?.data_type ?? 0)
      // a decode chain's output is the weight as float: trace it back to the codes
      if (n.name?.endsWith('_MulScale')) producers.set(n.output![0]!, DataType.INT8)
    }
  }
  const types: number[] = []
  for (const { graph } of allGraphScopes(model)) {
    for (const n of graph.node ?? []) if (nodeNames.has(n.name ?? '')) types.push(producers.get(n.input![1]!) ?? -1)
  }
  return types
}

const graphAttr = (name: string, g: GraphProto) => ({ name, type: AttributeType.GRAPH, g })

/**
 * A Loop whose body multiplies by its own weight and by an outer-scope one, and a Scan whose body
 * takes its weight from a Constant node: the subgraph kinds no real test model has.
 */
function loopAndScanModel(): Uint8Array {
  const loopBody: GraphProto = {
    name: 'loop_body',
    node: [
      node('MatMul', ['v_in', 'w_loop'], ['h']), node('MatMul', ['h', 'w_outer'], ['h2']),
      node('Tanh', ['h2'], ['v_out']), node('Identity', ['cond_in'], ['cond_out']),
    ],
    initializer: [randomTensor('w_loop', [32, 32], 11, 0.3)],
    input: [valueInfo('iter', DataType.INT64, []), valueInfo('cond_in', DataType.BOOL, []), valueInfo('v_in', DataType.FLOAT, [1, 32])],
    output: [valueInfo('cond_out', DataType.BOOL, []), valueInfo('v_out', DataType.FLOAT, [1, 32])],
  }
  const scanWeight: NodeProto = { name: 'scan_weight', op_type: 'Constant', input: [], output: ['w_scan'], attribute: [{ name: 'value', type: AttributeType.TENSOR, t: randomTensor('w_scan', [16, 16], 12, 0.3) }] }
  const scanBody: GraphProto = {
    name: 'scan_body',
    node: [scanWeight, node('MatMul', ['x_t', 'w_scan'], ['a']), node('Add', ['s_in', 'a'], ['b']), node('Tanh', ['b'], ['s_out']), node('Identity', ['s_out'], ['y_t'])],
    input: [valueInfo('s_in', DataType.FLOAT, [1, 16]), valueInfo('x_t', DataType.FLOAT, [1, 16])],
    output: [valueInfo('s_out', DataType.FLOAT, [1, 16]), valueInfo('y_t', DataType.FLOAT, [1, 16])],
  }
  const loop: NodeProto = { name: 'loop', op_type: 'Loop', input: ['trips', 'always', 'x'], output: ['looped'], attribute: [graphAttr('body', loopBody)] }
  const scan: NodeProto = { ...node('Scan', ['s0', 'xs'], ['s_final', 'ys'], { num_scan_inputs: 1 }), name: 'scan' }
  scan.attribute!.push(graphAttr('body', scanBody))
  return buildModel({
    nodes: [loop, scan],
    initializers: [
      makeTensor('trips', DataType.INT64, [], BigInt64Array.of(3n)), makeTensor('always', DataType.BOOL, [], Uint8Array.of(1)),
      randomTensor('w_outer', [32, 32], 13, 0.3),
    ],
    inputs: [valueInfo('x', DataType.FLOAT, [1, 32]), valueInfo('s0', DataType.FLOAT, [1, 16]), valueInfo('xs', DataType.FLOAT, [5, 1, 16])],
    outputs: [valueInfo('looped', DataType.FLOAT, [1, 32]), valueInfo('s_final', DataType.FLOAT, [1, 16]), valueInfo('ys', DataType.FLOAT, [5, 1, 16])],
  })
}

/** Seeded uniform inputs of the model's declared shapes, one set per sample. */
function feedsFor(bytes: Uint8Array, n: number, only?: string): Feeds[] {
  const specs = inputSpecs(decodeModelProto(bytes)).filter((s) => only === undefined || s.name === only)
  return Array.from({ length: n }, (_, i) => uniformFeeds(specs, 31 + i))
}

describe('weight selection follows the cfg', () => {
  it('min_quant_weight_channel skips convolutions with that many output channels or fewer', async () => {
    const { report } = await quantizeModel(DET, cfg({ min_quant_weight_channel: 16 }), run)
    const byChannel = report.skipped.filter((s) => s.reason === 'min_quant_weight_channel')
    expect(byChannel.length).toBeGreaterThan(0)
    // output channels: Conv weight [Cout, Cin/g, k, k]; ConvTranspose [Cin, Cout/g, k, k]
    for (const s of byChannel) expect(s.nodes[0]!.opType === 'ConvTranspose' ? s.dims[1]! : s.dims[0]!).toBeLessThanOrEqual(16)
    for (const l of report.layers) if (l.nodes[0]!.opType === 'Conv') expect(l.dims[0]).toBeGreaterThan(16)
    const none = (await quantizeModel(DET, cfg({ min_quant_weight_channel: 0 }), run)).report
    expect(none.skipped.filter((s) => s.reason === 'min_quant_weight_channel')).toEqual([])
    expect(none.layers.length).toBe(report.layers.length + byChannel.length)
  })

  it('min_quant_weight_size skips weights with that many elements or fewer', async () => {
    // the threshold is the size of some of det's weights: those (equal, not above) are skipped
    const all = (await quantizeModel(DET, cfg({ min_quant_weight_size: 0, min_quant_weight_channel: 0 }), run)).report
    const sizes = all.layers.map((l) => l.elements).sort((a, b) => a - b)
    const threshold = sizes.find((n) => n > 4000)!
    const { report } = await quantizeModel(DET, cfg({ min_quant_weight_size: threshold, min_quant_weight_channel: 0 }), run)
    const bySize = report.skipped.filter((s) => s.reason === 'min_quant_weight_size')
    const at = bySize.filter((s) => s.dims.reduce((a, b) => a * b, 1) === threshold)
    expect(at.length).toBe(sizes.filter((n) => n === threshold).length)
    for (const s of bySize) expect(s.dims.reduce((a, b) => a * b, 1)).toBeLessThanOrEqual(threshold)
    for (const l of report.layers) expect(l.elements).toBeGreaterThan(threshold)
    expect(report.layers.length).toBe(sizes.filter((n) => n > threshold).length)
  })

  it('skip_quant_node leaves the named nodes float and warns about names that match no node', async () => {
    const first = (await quantizeModel(DET, cfg(), run)).report.layers.slice(0, 2).map((l) => l.nodes[0]!.name)
    expect(first).toHaveLength(2)
    const name = first[0]!
    const typo = `${name.slice(0, -1)}x`
    const { model, report } = await quantizeModel(DET, cfg({ skip_quant_node: `${first.join(',')},${typo}` }), run)
    expect(report.skipped.filter((s) => s.reason === 'skip_quant_node').map((s) => s.nodes[0]!.name).sort()).toEqual([...first].sort())
    expect(report.layers.some((l) => first.includes(l.nodes[0]!.name))).toBe(false)
    expect(weightTypesFeeding(model, new Set(first))).toEqual([DataType.FLOAT, DataType.FLOAT])
    const warning = report.warnings.find((w) => w.includes(`'${typo}'`))
    expect(warning).toMatch(/did you mean '/)
    expect(warning).toContain(`'${name}'`)
  })

  it('names that match no node: warned at the cfg line, one by one for the first ten, then counted; FULL_QUANT warns too', async () => {
    const dir = path.join(tmp, 'skip-names')
    fs.mkdirSync(dir, { recursive: true })
    const names = Array.from({ length: 25 }, (_, i) => `not_a_node_${i}`)
    const file = path.join(dir, 'model.cfg')
    fs.writeFileSync(file, `[common_quant_param]\nquant_type=WEIGHT_QUANT\nskip_quant_node=${names.join(',')}\n`)
    const { report } = await quantizeModel(CLS, file, run)
    const about = report.warnings.filter((w) => w.includes('skip_quant_node'))
    expect(about).toHaveLength(11)
    expect(about[0]).toMatch(new RegExp(`^${escapeRegExp(file)}:3: skip_quant_node: no node is named 'not_a_node_0'`))
    expect(about[10]).toBe(`${file}:3: skip_quant_node: 15 more names match no node (25 in all)`)

    writeBins(path.join(dir, 'calib'), await clsSamples(2, 700))
    fs.writeFileSync(file, `[common_quant_param]\nquant_type=FULL_QUANT\n\nskip_quant_node=nope\n[data_preprocess_param]\ncalibrate_path=calib\ncalibrate_size=2\ninput_type=BIN\n`)
    const full = await quantizeModel(CLS, file, run)
    expect(full.report.warnings.filter((w) => w.includes('skip_quant_node'))).toEqual([`${file}:4: skip_quant_node: no node is named 'nope'`])
  })
  it('rank-1 weights stay float: a MatMul by a vector, a Gather from a 1-D table', async () => {
    const float = buildModel({
      nodes: [node('Gather', ['table1d', 'ids'], ['picked'], { axis: 0 }), node('MatMul', ['x', 'vec'], ['dot']), node('Gather', ['table2d', 'ids'], ['rows'], { axis: 0 })],
      initializers: [randomTensor('table1d', [1000], 21), randomTensor('vec', [48], 22), randomTensor('table2d', [1000, 8], 23)],
      inputs: [valueInfo('ids', DataType.INT64, [16]), valueInfo('x', DataType.FLOAT, [4, 48])],
      outputs: [valueInfo('picked', DataType.FLOAT, [16]), valueInfo('dot', DataType.FLOAT, [4]), valueInfo('rows', DataType.FLOAT, [16, 8])],
    })
    const { model, report } = await quantizeModel(float, cfg({ min_quant_weight_channel: 0 }), run)
    expect(report.skipped.filter((s) => s.reason === 'rank < 2').map((s) => s.tensor).sort()).toEqual(['table1d', 'vec'])
    expect(report.layers.map((l) => l.tensor)).toEqual(['table2d'])
    const rand = seededRandom(5)
    const feeds = feedsFor(float, 2, 'x').map((x) => ({
      ...x, ids: new ort.Tensor('int64', BigInt64Array.from({ length: 16 }, () => BigInt(Math.floor(rand() * 1000))), [16]),
    }))
    const cmp = await compareModels(float, model, feeds)
    expect(cmp.outputs.find((o) => o.name === 'picked')?.maxAbsDiff).toBe(0)
    expect(cmp.outputs.find((o) => o.name === 'dot')?.maxAbsDiff).toBe(0)
    expect(cmp.outputs.find((o) => o.name === 'rows')?.maxAbsDiff).toBeGreaterThan(0)
  })

  it('min_quant_weight_channel counts convolution output channels only: ConvTranspose by group, never MatMul or Gemm', async () => {
    const float = buildModel({
      nodes: [
        node('Conv', ['x', 'conv_w'], ['c'], { group: 1 }), node('Conv', ['x', 'narrow_conv_w'], ['narrow']),
        // ConvTranspose weight [in, out / group, kh, kw]: 5 per group, 20 output channels
        node('ConvTranspose', ['c', 'deconv_w'], ['up'], { group: 4 }),
        node('MatMul', ['m', 'matmul_w'], ['mm']), node('Gemm', ['m', 'gemm_w'], ['gm'], { transB: 1 }),
      ],
      initializers: [
        randomTensor('conv_w', [24, 8, 3, 3], 31), randomTensor('narrow_conv_w', [12, 8, 1, 1], 32), randomTensor('deconv_w', [24, 5, 2, 2], 33),
        randomTensor('matmul_w', [32, 8], 34), randomTensor('gemm_w', [8, 32], 35),
      ],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 8, 8, 8]), valueInfo('m', DataType.FLOAT, [2, 32])],
      outputs: [valueInfo('narrow', DataType.FLOAT, [1, 12, 8, 8]), valueInfo('up', DataType.FLOAT, [1, 20, 7, 7]), valueInfo('mm', DataType.FLOAT, [2, 8]), valueInfo('gm', DataType.FLOAT, [2, 8])],
    })
    const { model, report } = await quantizeModel(float, cfg({ min_quant_weight_channel: 16 }), run)
    const axes = Object.fromEntries(report.layers.map((l) => [l.tensor, l.axis]))
    expect(axes).toEqual({ conv_w: 0, deconv_w: 1, matmul_w: 1, gemm_w: 0 })
    expect(report.skipped.map((s) => [s.tensor, s.reason])).toEqual([['narrow_conv_w', 'min_quant_weight_channel']])
    // at 20 the grouped ConvTranspose has too few output channels too
    const at20 = (await quantizeModel(float, cfg({ min_quant_weight_channel: 20 }), run)).report
    expect(at20.skipped.map((s) => s.tensor).sort()).toEqual(['deconv_w', 'narrow_conv_w'])
    const cmp = await compareModels(float, model, feedsFor(float, 2))
    expect(cmp.outputs.find((o) => o.name === 'narrow')?.maxAbsDiff).toBe(0)
    expect(cmp.cosine).toBeGreaterThan(0.9999)
  })
})

describe('weights are found wherever exporters put them', () => {
  it('inside If branches (silero v5): quantized there, and the model still runs', async () => {
    const { model, report } = await quantizeModel(V5, cfg({ min_quant_weight_channel: 0 }), run)
    const inner = new Set<string>()
    for (const s of allGraphScopes(decodeModelProto(model))) {
      if (!s.owner) continue
      for (const n of s.graph.node ?? []) if (n.name) inner.add(n.name)
    }
    expect(report.layers.some((l) => l.nodes.some((n) => inner.has(n.name)))).toBe(true)
    const names = (decodeModelProto(fs.readFileSync(V5)).graph?.input ?? []).map((i) => i.name ?? '')
    const cmp = await compareModels(V5, model, sileroSamples(names, 2))
    expect(cmp.cosine).toBeGreaterThan(0.999)
  })

  it('LSTM input and recurrence weights (silero legacy) are quantized per gate row', async () => {
    const { report } = await quantizeModel(LEGACY, cfg({ min_quant_weight_channel: 0 }), run)
    const lstm = report.layers.filter((l) => l.nodes.some((n) => n.opType === 'LSTM'))
    expect(lstm.length).toBeGreaterThanOrEqual(2)
    for (const l of lstm) expect(l.axis).toBe(1)
  })

  it('Gemm weights take the output-channel axis their transB implies', async () => {
    const model = decodeModelProto(fs.readFileSync(WAKE))
    const gemms = new Map((model.graph?.node ?? []).filter((n) => n.op_type === 'Gemm').map((n) => [n.name ?? '', Number(n.attribute?.find((a) => a.name === 'transB')?.i ?? 0)]))
    expect(gemms.size).toBeGreaterThan(0)
    const { report } = await quantizeModel(WAKE, cfg(), run)
    const gemmLayers = report.layers.filter((l) => gemms.has(l.nodes[0]!.name))
    expect(gemmLayers.length).toBe(gemms.size)
    for (const l of gemmLayers) expect(l.axis).toBe(gemms.get(l.nodes[0]!.name) ? 0 : 1)
  })

  it('weights in ONNX external data: read from beside the model, written back as external data', async () => {
    const src = path.join(tmp, 'rec.onnx')
    const loaded = loadModel(REC)
    await saveModel(loaded.model, src, { externalData: { location: 'rec.onnx.data' } })
    expect(fs.existsSync(path.join(tmp, 'rec.onnx.data'))).toBe(true)
    const { model, externalData, report } = await quantizeModel(src, cfg(), { ...run, externalDataLocation: 'rec.quant.onnx.data' })
    expect(externalData?.location).toBe('rec.quant.onnx.data')
    expect(report.layers.length).toBeGreaterThan(0)
    const out = path.join(tmp, 'rec.quant.onnx')
    writeFilesAtomic([{ path: out, bytes: model }, { path: path.join(tmp, externalData!.location), bytes: externalData!.bytes }])
    // the same weights quantized from the inline model give the same outputs, bit for bit
    const inline = await quantizeModel(REC, cfg(), run)
    const cmp = await compareModels(inline.model, out, await recSamples(2, 640))
    expect(cmp.outputs.every((o) => o.maxAbsDiff === 0)).toBe(true)
    expect(report.layers.map((l) => l.tensor)).toEqual(inline.report.layers.map((l) => l.tensor))
  })
  it('externalDataLocation may name a subfolder (verified there) but not a folder', async () => {
    const src = path.join(tmp, 'cls-loc.onnx')
    await saveModel(loadModel(CLS).model, src, { externalData: { location: 'cls-loc.onnx.data' } })
    const sub = await quantizeModel(src, cfg(), { sizes: false, accuracyTarget: false, externalDataLocation: 'weights/cls.data' })
    expect(sub.externalData?.location).toBe('weights/cls.data')
    expect(sub.report.verification?.error ?? null).toBeNull()
    expect(sub.report.cosineSimilarity).toBeGreaterThan(0.999)
    for (const location of ['.', 'x/', 'weights/.']) {
      await expect(quantizeModel(src, cfg(), { ...run, externalDataLocation: location }), location).rejects.toThrow(`external data location '${location}' names a folder, not a file`)
    }
  })
  it('a model with external data is never run while quantizing: no data-driven step, and a warning naming the skipped ones', async () => {
    // onnxruntime resolves the external data of a model loaded from bytes under the working
    // directory, so bias correction ran or failed by where the process started
    const src = path.join(tmp, 'cls-ext.onnx')
    await saveModel(loadModel(CLS).model, src, { externalData: { location: 'cls-ext.onnx.data' } })
    const { model, externalData, report } = await quantizeModel(src, cfg(), { verify: false, sizes: false, externalDataLocation: 'cls-ext.quant.onnx.data' })
    // only the steps that would have run are named: at 8 bit on generated inputs, no error feedback
    expect(report.warnings).toContain('bias correction and the accuracy target skipped: a model with external data is not run while quantizing (onnxruntime would look for its data under the working directory)')
    const given = await quantizeModel(src, cfg(), { verify: false, sizes: false, accuracyTarget: false, samples: await clsSamples(2), externalDataLocation: 'x.data' })
    expect(given.report.warnings).toContain(notRunExternal(['bias correction', 'error-feedback rounding']))
    // without inputs and without the target nothing would have run, so nothing is said
    const none = await quantizeModel(src, cfg(), { ...run, externalDataLocation: 'x.data' })
    expect(none.report.warnings.filter((w) => w.includes('external data'))).toEqual([])
    expect(report.biasCorrected).toBe(0)
    expect(report.accuracy).toBeNull()
    writeFilesAtomic([{ path: path.join(tmp, 'cls-ext.quant.onnx'), bytes: model }, { path: path.join(tmp, externalData!.location), bytes: externalData!.bytes }])
    const plain = await quantizeModel(CLS, cfg(), { ...run, biasCorrection: false, errorFeedback: false })
    const cmp = await compareModels(plain.model, path.join(tmp, 'cls-ext.quant.onnx'), await clsSamples(2))
    expect(cmp.outputs.every((o) => o.maxAbsDiff === 0)).toBe(true)
  })

  it('inside Loop and Scan bodies, and outer weights a body reads: quantized where defined, and the model still runs', async () => {
    const float = loopAndScanModel()
    const { model, report } = await quantizeModel(float, cfg({ min_quant_weight_channel: 0 }), run)
    expect(report.layers.map((l) => l.tensor).sort()).toEqual(['w_loop', 'w_outer', 'w_scan'])
    // the codes live where the float weight was defined: the Loop body, the main graph (read from
    // the Loop body), the Scan body (a Constant node there)
    const int8ByGraph = Object.fromEntries(allGraphScopes(decodeModelProto(model)).map(({ graph }) => [graph.name, [
      ...(graph.initializer ?? []).filter((t) => t.data_type === DataType.INT8).map((t) => t.name),
      ...(graph.node ?? []).filter((n) => n.op_type === 'Constant' && n.attribute?.[0]?.t?.data_type === DataType.INT8).map((n) => n.output![0]),
    ]]))
    expect(int8ByGraph).toEqual({ g: [expect.stringContaining('w_outer')], loop_body: [expect.stringContaining('w_loop')], scan_body: [expect.stringContaining('w_scan')] })
    expect(weightTypesFeeding(model, new Set(['MatMul_h', 'MatMul_h2', 'MatMul_a']))).toEqual([DataType.INT8, DataType.INT8, DataType.INT8])
    const cmp = await compareModels(float, model, feedsFor(float, 3))
    expect(cmp.outputs.map((o) => o.name)).toEqual(['looped', 's_final', 'ys'])
    expect(cmp.cosine).toBeGreaterThan(0.9999)
    for (const o of cmp.outputs) expect(o.maxAbsDiff, o.name).toBeGreaterThan(0)
  })

  it('in a node list that is not topologically sorted (PP-OCR cls, reversed): the same weights, the same outputs', async () => {
    const reversed = decodeModelProto(fs.readFileSync(CLS))
    reversed.graph!.node!.reverse()
    const sorted = await quantizeModel(CLS, cfg(), run)
    const unsorted = await quantizeModel(encodeModelProto(reversed), cfg(), run)
    expect(unsorted.report.layers.map((l) => l.tensor).sort()).toEqual(sorted.report.layers.map((l) => l.tensor).sort())
    expect(unsorted.report.layers.length).toBeGreaterThan(20)
    const cmp = await compareModels(sorted.model, unsorted.model, await clsSamples(2))
    expect(cmp.outputs.every((o) => o.maxAbsDiff === 0)).toBe(true)
  })
})

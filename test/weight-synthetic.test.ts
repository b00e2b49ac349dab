import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { AttributeType, DataType, type TensorProto } from '../src/onnx/onnx-types.js'
import { floatToHalf } from '../src/onnx/float16.js'
import { makeTensor } from '../src/onnx/tensor-data.js'
import { quantizeModel } from '../src/quantize-model.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'

// Weight roles no real test model has: Gather embedding tables, Gemm with transB=0, a weight also
// read by a non-weight op, and a rank-1 tensor. Built at test time, run in onnxruntime-node.

const run = { verify: false, accuracyTarget: false, sizes: false } as const
const cfg = { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8, min_quant_weight_channel: 0 } }

function embeddingModel(): Uint8Array {
  return buildModel({
    nodes: [
      node('Gather', ['table', 'ids'], ['emb'], { axis: 0 }),
      node('MatMul', ['emb', 'proj'], ['h']),
      node('Add', ['h', 'proj_bias'], ['h2']),
      node('Gemm', ['h2', 'head'], ['logits'], { transB: 0 }),
      // `shared` is a MatMul weight and also read by Add: it must stay float
      node('MatMul', ['h2', 'shared'], ['s1']),
      node('Add', ['s1', 'shared_row'], ['s2']),
      node('Add', ['shared', 'shared'], ['shared_twice']),
    ],
    initializers: [
      randomTensor('table', [1000, 64], 1), randomTensor('proj', [64, 48], 2), randomTensor('proj_bias', [48], 3),
      randomTensor('head', [48, 10], 4), randomTensor('shared', [48, 48], 5), randomTensor('shared_row', [48], 6),
    ],
    inputs: [valueInfo('ids', DataType.INT64, [16])],
    outputs: [valueInfo('logits', DataType.FLOAT, [16, 10]), valueInfo('s2', DataType.FLOAT, [16, 48]), valueInfo('shared_twice', DataType.FLOAT, [48, 48])],
  })
}

function idFeeds(n: number): Record<string, ort.Tensor>[] {
  const rand = seededRandom(77)
  return Array.from({ length: n }, () => ({ ids: new ort.Tensor('int64', BigInt64Array.from({ length: 16 }, () => BigInt(Math.floor(rand() * 1000))), [16]) }))
}

describe('weight roles beyond the real models', () => {
  it('Gather tables are quantized per row, Gemm transB=0 per column; shared and rank-1 tensors stay float', async () => {
    const float = embeddingModel()
    const { model, report } = await quantizeModel(float, cfg, run)
    const byTensor = new Map(report.layers.map((l) => [l.tensor, l]))
    expect(byTensor.get('table')?.axis).toBe(0)
    expect(byTensor.get('table')?.nodes[0]?.opType).toBe('Gather')
    expect(byTensor.get('proj')?.axis).toBe(1)
    expect(byTensor.get('head')?.axis).toBe(1)
    expect(byTensor.has('shared')).toBe(false)
    expect(report.skipped.find((s) => s.tensor === 'shared')?.reason).toBe('also read as a non-weight input')
    expect(byTensor.has('proj_bias')).toBe(false)
    // the shared weight reaches its Add unchanged
    const inits = new Map((decodeModelProto(model).graph?.initializer ?? []).map((t) => [t.name, t.data_type]))
    expect(inits.get('shared')).toBe(DataType.FLOAT)
    expect(inits.get('table_quantized')).toBe(DataType.INT8)
    const cmp = await compareModels(float, model, idFeeds(4))
    expect(cmp.outputs.find((o) => o.name === 'shared_twice')?.maxAbsDiff).toBe(0)
    expect(cmp.cosine).toBeGreaterThan(0.9999)
  })

  it('what the graph hands out or takes in stays float: a weight that is a graph output (directly or through Identity), an initializer also a graph input from IR 4, one training_info updates', async () => {
    const F = DataType.FLOAT
    const x = valueInfo('x', F, [4, 64])
    // y = x·w + b; w_out = Identity(w) when asked for
    const build = (outputs: string[], ir: number, inputs = [x]) => {
      const bytes = buildModel({
        nodes: [node('MatMul', ['x', 'w'], ['xw']), node('Add', ['xw', 'b'], ['y']), node('Identity', ['w'], ['w_out'])],
        initializers: [randomTensor('w', [64, 32], 3), randomTensor('b', [32], 4)], inputs,
        outputs: [valueInfo('y', F, [4, 32]), ...outputs.map((o) => valueInfo(o, F, [64, 32]))],
      })
      const m = decodeModelProto(bytes)
      m.ir_version = ir
      if (!outputs.includes('w_out')) m.graph!.node = m.graph!.node!.slice(0, 2)
      return encodeModelProto(m)
    }
    // a training step that writes w back: its binding must keep naming a float initializer
    const withTraining = (bytes: Uint8Array) => {
      const m = decodeModelProto(bytes)
      m.training_info = [{ algorithm: { name: 'step', node: [node('Mul', ['w', 'w'], ['w_next'])], output: [valueInfo('w_next', F, [64, 32])] }, update_binding: [{ key: 'w', value: 'w_next' }] }]
      return encodeModelProto(m)
    }
    const feeds = [{ x: new ort.Tensor('float32', Float32Array.from({ length: 256 }, (_, i) => Math.sin(i)), [4, 64]) }]
    const w = valueInfo('w', F, [64, 32])
    const b = valueInfo('b', F, [32])
    // [what, model, w's skip reason, graph inputs after quantizing, a warning about listed initializers]
    const cases: [string, Uint8Array, string | null, string[], boolean][] = [
      ['w is a graph output', build(['w'], 8), 'a graph output', ['x'], false],
      ['w reaches a graph output through Identity', build(['w_out'], 8), 'a graph output', ['x'], false],
      ['w, not b, is also a graph input, IR 8', build([], 8, [x, w]), 'an overridable graph input', ['x', 'w'], false],
      // before IR 4 every initializer was listed as an input: those are weights as usual, and the
      // replaced tensor's entry goes with it
      ['w is also a graph input, IR 3', build([], 3, [x, w]), null, ['x'], false],
      // some exporters kept listing them all at IR 4-7: the same habit, said in a warning
      ['every initializer is also a graph input, IR 6', build([], 6, [x, w, b]), null, ['x', 'b'], true],
      ['training_info updates w', withTraining(build([], 8)), 'bound or read by training_info', ['x'], false],
    ]
    for (const [what, float, reason, inputs, warned] of cases) {
      const { model, report } = await quantizeModel(float, cfg, run)
      expect(report.skipped.find((s) => s.tensor === 'w')?.reason ?? null, what).toBe(reason)
      expect(report.nodesQuantized, what).toBe(reason ? 0 : 1)
      expect(report.warnings.some((m) => m.startsWith('the model lists all 2 of its initializers as graph inputs')), what).toBe(warned)
      const graph = decodeModelProto(model).graph!
      expect(graph.input?.map((i) => i.name), what).toEqual(inputs)
      const cmp = await compareModels(float, model, feeds)
      if (reason) for (const o of cmp.outputs) expect(o.maxAbsDiff, `${what}: ${o.name}`).toBe(0)
      else expect(cmp.outputs[0]!.maxAbsDiff, what).toBeGreaterThan(0)
      expect(cmp.cosine, what).toBeGreaterThan(0.9999)
    }
  })

  it('bfloat16 tables quantize the same whether stored raw or as bit patterns in int32_data', async () => {
    const values = (randomTensor('t', [100, 16], 9).raw_data)!
    const floats = new Float32Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength))
    const bits = Array.from(new Uint32Array(floats.buffer), (b) => b >>> 16)
    const table = (raw: boolean): TensorProto => ({
      name: 'table', data_type: DataType.BFLOAT16, dims: [100, 16],
      ...(raw ? { raw_data: new Uint8Array(Uint16Array.from(bits).buffer) } : { int32_data: bits }),
    })
    const build = (raw: boolean) => buildModel({
      nodes: [node('Gather', ['table', 'ids'], ['rows'], { axis: 0 }), node('Cast', ['rows'], ['out'], { to: DataType.FLOAT })],
      initializers: [table(raw)], inputs: [valueInfo('ids', DataType.INT64, [16])], outputs: [valueInfo('out', DataType.FLOAT, [16, 16])],
    })
    const [raw, typed] = [build(true), build(false)]
    const [a, b] = [await quantizeModel(raw, cfg, run), await quantizeModel(typed, cfg, run)]
    expect([a.report.nodesQuantized, b.report.nodesQuantized]).toEqual([1, 1])
    const ids = idFeeds(2).map((f) => ({ ids: new ort.Tensor('int64', (f.ids!.data as BigInt64Array).map((v) => v % 100n), [16]) }))
    const [ca, cb] = [await compareModels(raw, a.model, ids), await compareModels(typed, b.model, ids)]
    expect(ca.cosine).toBeGreaterThan(0.9999)
    expect(cb.cosine).toBe(ca.cosine)
  })

  it('a Gather table at 4 bit still runs and keeps its rows apart', async () => {
    const float = embeddingModel()
    const { model } = await quantizeModel(float, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 4, min_quant_weight_channel: 0 } }, run)
    const cmp = await compareModels(float, model, idFeeds(4))
    expect(cmp.cosine).toBeGreaterThan(0.98)
    expect(cmp.cosine).toBeLessThan(0.99999)
  })

  it('a weight name defined twice (a Constant and an initializer, two initializers, a subgraph\'s own tensor shadowing it) stays float and the model still loads', async () => {
    const F = DataType.FLOAT
    const x = new ort.Tensor('float32', Float32Array.from({ length: 4 * 32 }, (_, i) => Math.sin(i)), [4, 32])
    // y = x·w, z = x·v: v is defined once and is quantized whatever happens to w
    const base = () => decodeModelProto(buildModel({
      nodes: [node('MatMul', ['x', 'w'], ['y']), node('MatMul', ['x', 'v'], ['z'])],
      initializers: [randomTensor('w', [32, 16], 2), randomTensor('v', [32, 16], 3)],
      inputs: [valueInfo('x', F, [4, 32]), valueInfo('flag', DataType.BOOL, [])], outputs: [valueInfo('y', F, [4, 16]), valueInfo('z', F, [4, 16])],
    }))
    const withConstant = base()
    withConstant.graph!.node!.unshift({ name: 'c', op_type: 'Constant', output: ['w'], attribute: [{ name: 'value', type: AttributeType.TENSOR, t: randomTensor('w', [32, 16], 9) }] })
    const twoInitializers = base()
    twoInitializers.graph!.initializer!.push(randomTensor('w', [32, 16], 9))
    // an If whose then-branch keeps its own 'w': onnxruntime reads the outer one there, so the
    // model runs, until the outer 'w' becomes a node output and it rejects the model
    const shadowed = base()
    const branch = (own: boolean, out: string) => ({ name: out, node: [node('Identity', ['x'], [out])], initializer: own ? [randomTensor('w', [32, 16], 9)] : [], output: [valueInfo(out, F, [4, 32])] })
    shadowed.graph!.node!.push({ name: 'if', op_type: 'If', input: ['flag'], output: ['u'], attribute: [{ name: 'then_branch', type: AttributeType.GRAPH, g: branch(true, 't') }, { name: 'else_branch', type: AttributeType.GRAPH, g: branch(false, 'e') }] })
    shadowed.graph!.output!.push(valueInfo('u', F, [4, 32]))
    for (const [what, m] of [['a Constant and an initializer', withConstant], ['two initializers', twoInitializers], ['a subgraph initializer', shadowed]] as const) {
      const float = encodeModelProto(m)
      const { model, report } = await quantizeModel(float, cfg, run)
      expect(report.skipped.filter((s) => s.tensor === 'w').map((s) => s.reason), what).toContain('defined more than once in the model')
      expect(report.layers.map((l) => l.tensor), what).toEqual(['v'])
      expect(report.warnings.some((w) => w.includes("defined more than once") && w.includes("'w'")), what).toBe(true)
      const cmp = await compareModels(float, model, [{ x, flag: new ort.Tensor('bool', [true], []) }])
      expect(cmp.outputs.find((o) => o.name === 'y')?.maxAbsDiff, what).toBe(0)
      expect(cmp.outputs.find((o) => o.name === 'z')?.maxAbsDiff, what).toBeGreaterThan(0)
    }
    // the two branches of an If may each keep their own 'b': neither sees the other's
    const siblings = base()
    const own = (seed: number, out: string) => ({ name: out, node: [node('MatMul', ['x', 'b'], [out])], initializer: [randomTensor('b', [32, 8], seed)], output: [valueInfo(out, F, [4, 8])] })
    siblings.graph!.node!.push({ name: 'if', op_type: 'If', input: ['flag'], output: ['u'], attribute: [{ name: 'then_branch', type: AttributeType.GRAPH, g: own(7, 't') }, { name: 'else_branch', type: AttributeType.GRAPH, g: own(8, 'e') }] })
    siblings.graph!.output!.push(valueInfo('u', F, [4, 8]))
    const siblingsFloat = encodeModelProto(siblings)
    const { model, report } = await quantizeModel(siblingsFloat, cfg, run)
    expect(report.layers.map((l) => l.tensor).sort()).toEqual(['b', 'b', 'v', 'w'])
    // each branch computes with its own quantized 'b'
    for (const flag of [true, false]) {
      const u = (await compareModels(siblingsFloat, model, [{ x, flag: new ort.Tensor('bool', [flag], []) }])).outputs.find((o) => o.name === 'u')!
      expect(u.maxAbsDiff, `flag ${flag}`).toBeGreaterThan(0)
      expect(u.cosine, `flag ${flag}`).toBeGreaterThan(0.9999)
    }
  })

  it('a branch\'s own weight shadowing a weight of the graph around it: both stay float, named once in the warning, and the model runs', async () => {
    const F = DataType.FLOAT
    const x = new ort.Tensor('float32', Float32Array.from({ length: 4 * 32 }, (_, i) => Math.sin(i)), [4, 32])
    // y = x·b with the main graph's 'b'; the If's then-branch has its own 'b' (onnxruntime reads
    // the outer one there), the else-branch its own 'c', defined once and quantized. (An
    // else-branch reading the outer 'b' fails in onnxruntime on the float model already.)
    const m = decodeModelProto(buildModel({
      nodes: [node('MatMul', ['x', 'b'], ['y'])], initializers: [randomTensor('b', [32, 8], 1)],
      inputs: [valueInfo('x', F, [4, 32]), valueInfo('flag', DataType.BOOL, [])], outputs: [valueInfo('y', F, [4, 8])],
    }))
    const branch = (w: string, seed: number, out: string) => ({ name: out, node: [node('MatMul', ['x', w], [out])], initializer: [randomTensor(w, [32, 8], seed)], output: [valueInfo(out, F, [4, 8])] })
    m.graph!.node!.push({ name: 'if', op_type: 'If', input: ['flag'], output: ['u'], attribute: [{ name: 'then_branch', type: AttributeType.GRAPH, g: branch('b', 7, 't') }, { name: 'else_branch', type: AttributeType.GRAPH, g: branch('c', 8, 'e') }] })
    m.graph!.output!.push(valueInfo('u', F, [4, 8]))
    const float = encodeModelProto(m)
    const { model, report } = await quantizeModel(float, cfg, run)
    expect(report.layers.map((l) => l.tensor)).toEqual(['c'])
    expect(report.skipped.map((s) => [s.tensor, s.reason])).toEqual([['b', 'defined more than once in the model'], ['b', 'defined more than once in the model']])
    expect(report.warnings.filter((w) => w.includes('defined more than once'))).toEqual([
      "1 weight name(s) are defined more than once (ONNX wants each name defined once, across subgraphs too), and those weights stay float: 'b'",
    ])
    for (const flag of [true, false]) {
      const cmp = await compareModels(float, model, [{ x, flag: new ort.Tensor('bool', [flag], []) }])
      const diff = (name: string) => cmp.outputs.find((o) => o.name === name)!.maxAbsDiff
      expect(diff('y'), `flag ${flag}`).toBe(0)
      if (flag) expect(diff('u')).toBe(0)
      else expect(diff('u')).toBeGreaterThan(0)
      expect(cmp.cosine, `flag ${flag}`).toBeGreaterThan(0.9999)
    }
  })

  it('a weight its op reads only through layout ops names the reason that holds whatever the path: a graph output, a name defined twice', async () => {
    const F = DataType.FLOAT
    const shape = makeTensor('shape', DataType.INT64, [2], BigInt64Array.from([32n, 16n]))
    // y = x·reshape(flat), the reshaped weight also handed out as a graph output
    const exposed = buildModel({
      nodes: [node('Reshape', ['flat', 'shape'], ['w']), node('MatMul', ['x', 'w'], ['y'])],
      initializers: [randomTensor('flat', [512], 1), shape],
      inputs: [valueInfo('x', F, [4, 32])], outputs: [valueInfo('y', F, [4, 16]), valueInfo('w', F, [32, 16])],
    })
    // a Conv kernel stored flat (a path not followed) under a name defined twice
    const twice = decodeModelProto(buildModel({
      nodes: [node('Reshape', ['flat', 'kshape'], ['k']), node('Conv', ['img', 'k'], ['c'])],
      initializers: [randomTensor('flat', [8, 36], 4), makeTensor('kshape', DataType.INT64, [4], BigInt64Array.from([8n, 4n, 3n, 3n]))],
      inputs: [valueInfo('img', F, [1, 4, 5, 5])], outputs: [valueInfo('c', F, [1, 8, 3, 3])],
    }))
    twice.graph!.initializer!.push(randomTensor('flat', [8, 36], 5))
    for (const [what, float, reason, op] of [['exposed', exposed, 'a graph output', 'MatMul'], ['defined twice', encodeModelProto(twice), 'defined more than once in the model', 'Conv']] as const) {
      const { report } = await quantizeModel(float, cfg, run)
      expect(report.skipped.map((s) => [s.tensor, s.reason, s.nodes.map((n) => n.opType)]), what).toEqual([['flat', reason, [op]]])
      expect(report.layers, what).toEqual([])
    }
  })

  it('the ops a weight reaches through paths not followed are its own: not a sibling branch\'s readers of the same name, nor through a Cast to integers', async () => {
    const F = DataType.FLOAT
    const m = decodeModelProto(buildModel({
      nodes: [node('Identity', ['x'], ['y'])], initializers: [],
      inputs: [valueInfo('x', F, [4, 32]), valueInfo('flag', DataType.BOOL, [])], outputs: [valueInfo('y', F, [4, 32])],
    }))
    // then: 'b' is an Add operand, no weight; else: its own 'b' reaches two MatMuls through a Transpose
    const thenG = { name: 't', node: [node('Add', ['x', 'b'], ['t'])], initializer: [randomTensor('b', [4, 32], 7)], output: [valueInfo('t', F, [4, 32])] }
    const elseG = { name: 'e', node: [node('Transpose', ['b'], ['bt']), node('MatMul', ['x', 'bt'], ['e0']), node('MatMul', ['e0', 'bt'], ['e1']), node('Identity', ['e1'], ['e'])], initializer: [randomTensor('b', [32, 32], 8)], output: [valueInfo('e', F, [4, 32])] }
    m.graph!.node!.push({ name: 'if', op_type: 'If', input: ['flag'], output: ['u'], attribute: [{ name: 'then_branch', type: AttributeType.GRAPH, g: thenG }, { name: 'else_branch', type: AttributeType.GRAPH, g: elseG }] })
    m.graph!.output!.push(valueInfo('u', F, [4, 32]))
    // an integer matmul on a weight cast to int32 is not a float weight's op
    m.graph!.node!.push(node('Cast', ['wf'], ['wi'], { to: DataType.INT32 }), node('MatMul', ['xi', 'wi'], ['yi']))
    m.graph!.initializer!.push(randomTensor('wf', [32, 16], 9))
    m.graph!.input!.push(valueInfo('xi', DataType.INT32, [4, 32]))
    m.graph!.output!.push(valueInfo('yi', DataType.INT32, [4, 16]))
    const float = encodeModelProto(m)
    const { model, report } = await quantizeModel(float, cfg, run)
    expect(report.skipped).toEqual([])
    expect(report.layers.map((l) => [l.tensor, l.dims])).toEqual([['b', [32, 32]]])
    const xi = new ort.Tensor('int32', Int32Array.from({ length: 128 }, (_, i) => i % 5), [4, 32])
    const x = new ort.Tensor('float32', Float32Array.from({ length: 128 }, (_, i) => Math.sin(i)), [4, 32])
    const u = (await compareModels(float, model, [{ x, xi, flag: new ort.Tensor('bool', [false], []) }])).outputs.find((o) => o.name === 'u')!
    expect(u.maxAbsDiff).toBeGreaterThan(0)
    expect(u.cosine).toBeGreaterThan(0.9999)
  })

  it('Conv, ConvTranspose and Gather weights read through Identity nodes are quantized on their op\'s axis', async () => {
    const F = DataType.FLOAT
    const x = new ort.Tensor('float32', Float32Array.from({ length: 4 * 25 }, (_, i) => Math.sin(i)), [1, 4, 5, 5])
    const ids = new ort.Tensor('int64', BigInt64Array.from([0n, 3n, 49n, 7n]), [4])
    // exporters give a shared or renamed parameter its second name through Identity
    const float = buildModel({
      nodes: [
        node('Identity', ['k'], ['k1']), node('Identity', ['k1'], ['k2']), node('Conv', ['x', 'k2'], ['c']),
        node('Identity', ['d'], ['d1']), node('ConvTranspose', ['x', 'd1'], ['ct'], { group: 2 }),
        node('Identity', ['t'], ['t1']), node('Gather', ['t1', 'ids'], ['g'], { axis: 1 }),
      ],
      initializers: [randomTensor('k', [8, 4, 3, 3], 2), randomTensor('d', [4, 3, 3, 3], 3), randomTensor('t', [16, 50], 4)],
      inputs: [valueInfo('x', F, [1, 4, 5, 5]), valueInfo('ids', DataType.INT64, [4])],
      outputs: [valueInfo('c', F, [1, 8, 3, 3]), valueInfo('ct', F, [1, 6, 7, 7]), valueInfo('g', F, [16, 4])],
    })
    const { model, report } = await quantizeModel(float, cfg, run)
    expect(report.layers.map((l) => [l.tensor, l.nodes[0]?.opType, l.axis])).toEqual([['k', 'Conv', 0], ['d', 'ConvTranspose', 1], ['t', 'Gather', 1]])
    const cmp = await compareModels(float, model, [{ x, ids }])
    for (const o of cmp.outputs) {
      expect(o.maxAbsDiff, o.name).toBeGreaterThan(0)
      expect(o.cosine, o.name).toBeGreaterThan(0.9999)
    }
  })

  it('a constant first input of MatMul (W @ x) is quantized per output row, with no bias correction, and stays weight-only in dynamic mode', async () => {
    const F = DataType.FLOAT
    // y = W·x + b with a square W (the bias correction's sums for MatMul's B would fit its shape);
    // z = V·x with a batched V [2, 32, 32]
    const float = buildModel({
      // (Relu after each, so that neither is the output head dynamic mode keeps float)
      nodes: [node('MatMul', ['W', 'x'], ['wx']), node('Add', ['wx', 'b'], ['yb']), node('Relu', ['yb'], ['y']), node('MatMul', ['V', 'x'], ['vx']), node('Relu', ['vx'], ['z'])],
      initializers: [randomTensor('W', [32, 32], 2), randomTensor('b', [32], 3), randomTensor('V', [2, 32, 32], 4)],
      inputs: [valueInfo('x', F, [32, 32])], outputs: [valueInfo('y', F, [32, 32]), valueInfo('z', F, [2, 32, 32])],
    })
    const rand = seededRandom(3)
    const samples = Array.from({ length: 4 }, () => ({ x: new ort.Tensor('float32', Float32Array.from({ length: 1024 }, () => rand() + 2), [32, 32]) }))
    const { model, report } = await quantizeModel(float, cfg, { ...run, samples })
    expect(report.layers.map((l) => [l.tensor, l.axis])).toEqual([['W', 0], ['V', 1]])
    expect(report.biasCorrected).toBe(0)
    const cmp = await compareModels(float, model, samples)
    for (const o of cmp.outputs) expect(o.cosine, o.name).toBeGreaterThan(0.9999)
    const dynamic = await quantizeModel(float, { common_quant_param: { ...cfg.common_quant_param, quant_type: 'DYNAMIC_QUANT' } }, run)
    expect(dynamic.report.dynamic!.int8).toEqual([])
    expect(dynamic.report.dynamic!.weightOnly.map((w) => [w.tensor, w.reason])).toEqual([
      ['W', 'weight is MatMul\'s first input (MatMulInteger here takes a constant second input)'],
      ['V', 'weight is 3-D (MatMulInteger here takes a 2-D constant B)'],
    ])
  })

  it('float16 weights cast to float at load are quantized; a weight its op reads through ops not followed is listed as skipped, not left out', async () => {
    const F = DataType.FLOAT
    const half = (t: TensorProto): TensorProto => {
      const v = new Float32Array(t.raw_data!.slice().buffer)
      return makeTensor(t.name!, DataType.FLOAT16, t.dims!.map(Number), Uint16Array.from(v, floatToHalf))
    }
    const float = buildModel({
      nodes: [
        // float16 storage, float32 compute
        node('Cast', ['w16'], ['w'], { to: F }), node('MatMul', ['x', 'w'], ['y']),
        node('Cast', ['k16'], ['k'], { to: F }), node('Conv', ['img', 'k'], ['c']),
        // a Conv kernel stored flat: the reshape hides the dims its channel threshold reads
        node('Reshape', ['flat', 'shape'], ['kr']), node('Conv', ['img', 'kr'], ['c2']),
      ],
      initializers: [
        half(randomTensor('w16', [32, 16], 2)), half(randomTensor('k16', [8, 4, 3, 3], 3)),
        randomTensor('flat', [8, 36], 4), makeTensor('shape', DataType.INT64, [4], BigInt64Array.from([8n, 4n, 3n, 3n])),
      ],
      inputs: [valueInfo('x', F, [4, 32]), valueInfo('img', F, [1, 4, 5, 5])],
      outputs: [valueInfo('y', F, [4, 16]), valueInfo('c', F, [1, 8, 3, 3]), valueInfo('c2', F, [1, 8, 3, 3])],
    })
    const { model, report } = await quantizeModel(float, cfg, run)
    expect(report.layers.map((l) => [l.tensor, l.nodes[0]?.opType, l.axis])).toEqual([['w16', 'MatMul', 1], ['k16', 'Conv', 0]])
    expect(report.skipped.map((s) => [s.tensor, s.reason, s.nodes.map((n) => n.opType)])).toEqual([['flat', 'reaches its op through other ops', ['Conv']]])
    expect(report.nodesSkipped).toBe(1)
    const feeds = [{
      x: new ort.Tensor('float32', Float32Array.from({ length: 128 }, (_, i) => Math.sin(i)), [4, 32]),
      img: new ort.Tensor('float32', Float32Array.from({ length: 100 }, (_, i) => Math.cos(i)), [1, 4, 5, 5]),
    }]
    const cmp = await compareModels(float, model, feeds)
    expect(cmp.outputs.find((o) => o.name === 'c2')?.maxAbsDiff).toBe(0)
    for (const name of ['y', 'c']) {
      const o = cmp.outputs.find((p) => p.name === name)!
      expect(o.maxAbsDiff, name).toBeGreaterThan(0)
      expect(o.cosine, name).toBeGreaterThan(0.9999)
    }
  })
})

describe('weights the quantizer leaves as they are', () => {
  it('a sparse initializer and a Constant inside a model-local function stay float and are listed as skipped, not left out', async () => {
    // [16, 8] with every third element stored, as linear indices
    const dense = randomTensor('sp', [16, 8], 21)
    const all = new Float32Array(dense.float_data as number[])
    const at = Array.from({ length: all.length }, (_, i) => i).filter((i) => i % 3 === 0)
    const sparseValues = makeTensor('sp', DataType.FLOAT, [at.length], Float32Array.from(at, (i) => all[i]!))
    const sparseIndices = makeTensor('sp_indices', DataType.INT64, [at.length], BigInt64Array.from(at, (i) => BigInt(i)))
    const fnWeight = randomTensor('fw', [8, 8], 22)
    const model = encodeModelProto({
      ir_version: 8,
      opset_import: [{ domain: '', version: 17 }, { domain: 'local', version: 1 }],
      producer_name: 'unplugin-quantize tests',
      graph: {
        name: 'g',
        node: [node('MatMul', ['x', 'sp'], ['y1']), { name: 'proj', op_type: 'Proj', domain: 'local', input: ['y1'], output: ['y2'] }, node('MatMul', ['y2', 'w'], ['z'])],
        initializer: [randomTensor('w', [8, 8], 23)],
        sparse_initializer: [{ values: sparseValues, indices: sparseIndices, dims: [16, 8] }],
        input: [valueInfo('x', DataType.FLOAT, [4, 16])],
        output: [valueInfo('z', DataType.FLOAT, [4, 8])],
      },
      functions: [{
        name: 'Proj', domain: 'local', input: ['a'], output: ['b'], opset_import: [{ domain: '', version: 17 }],
        node: [
          { name: 'fw_const', op_type: 'Constant', input: [], output: ['fw'], attribute: [{ name: 'value', type: AttributeType.TENSOR, t: fnWeight }] },
          { name: 'fn_matmul', op_type: 'MatMul', input: ['a', 'fw'], output: ['b'] },
        ],
      }],
    })
    const { model: out, report } = await quantizeModel(model, cfg, run)
    expect(report.layers.map((l) => l.tensor)).toEqual(['w'])
    expect(report.skipped).toEqual(expect.arrayContaining([
      { nodes: [{ name: 'MatMul_y1', opType: 'MatMul' }], tensor: 'sp', dims: [16, 8], reason: 'a sparse initializer' },
      { nodes: [{ name: 'fn_matmul', opType: 'MatMul' }], tensor: 'fw', dims: [8, 8], reason: 'inside a model-local function' },
    ]))
    expect(report.nodesSkipped).toBe(2)
    // both are written back as they were, and the model runs
    const [written, original] = [decodeModelProto(out), decodeModelProto(model)]
    expect(written.graph!.sparse_initializer).toEqual(original.graph!.sparse_initializer)
    expect(written.functions).toEqual(original.functions)
    const samples = [{ x: new ort.Tensor('float32', Float32Array.from({ length: 64 }, (_, i) => Math.sin(i)), [4, 16]) }]
    expect((await compareModels(model, out, samples)).cosine).toBeGreaterThan(0.9999)
  })
})

describe('a missed accuracy target says what to keep float', () => {
  it('names the costliest weights and a skip_quant_node line that, used, keeps them float and raises the cosine', async () => {
    const float = embeddingModel()
    // out of reach on purpose: 8-bit rounding of random weights leaves far more error than 1e-9
    const opts = { verify: false, sizes: false, accuracyTarget: 1 - 1e-9 } as const
    const first = await quantizeModel(float, cfg, opts)
    const warning = first.report.warnings.find((w) => w.startsWith('accuracy target'))
    expect(warning).toMatch(/not reached on generated inputs/)
    const line = /skip_quant_node=([^ ]+) keeps them float/.exec(warning ?? '')?.[1]
    expect(line).toBeTruthy()
    const nodes = line!.split(',')
    // the named nodes read the named weights, costliest first
    const named = [...(warning ?? '').matchAll(/'([^']+)'/g)].map((m) => m[1]!)
    expect(named.length).toBeGreaterThan(0)
    const readers = new Map(first.report.layers.map((l) => [l.tensor, l.nodes.map((n) => n.name)]))
    for (const t of named) expect(readers.get(t)?.some((n) => nodes.includes(n)), t).toBe(true)
    const second = await quantizeModel(float, { common_quant_param: { ...cfg.common_quant_param, skip_quant_node: line! } }, opts)
    const skipped = second.report.skipped.filter((s) => s.reason === 'skip_quant_node').map((s) => s.tensor)
    expect(skipped.sort()).toEqual([...named].sort())
    expect(named.length).toBeLessThanOrEqual(3)
    const [a, b] = [await compareModels(float, first.model, idFeeds(4)), await compareModels(float, second.model, idFeeds(4))]
    expect(b.cosine!).toBeGreaterThan(a.cosine!)
  })
})

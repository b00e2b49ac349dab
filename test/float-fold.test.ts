import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { AttributeType, DataType, type AttributeProto, type ModelProto, type NodeProto, type TensorProto } from '../src/onnx/onnx-types.js'
import { loadModel, saveModel } from '../src/onnx/model-file.js'
import { isExternal, makeTensor } from '../src/onnx/tensor-data.js'
import { foldForInt8, type FoldReport } from '../src/quant/fold/fold-model.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { clsSamples, detSamples, recSamples } from './helpers/model-inputs.js'
import { MODELS } from './helpers/models.js'

// Exact float folding before int8: BatchNorm and per-channel affines into convs, hard-swish
// chains into single ops. Every folded model runs in onnxruntime-node next to the original.

type Feeds = Record<string, ort.Tensor>

function fold(bytes: Uint8Array): { model: ModelProto; folded: Uint8Array; report: FoldReport } {
  const model = decodeModelProto(bytes)
  const report = foldForInt8(model)
  return { model, folded: encodeModelProto(model), report }
}

/** Per output: max |a - b| over max |a| (the output's scale), and cosine; over all samples. */
async function compareOutputs(original: Uint8Array, folded: Uint8Array, samples: Feeds[]): Promise<{ name: string; relDiff: number; cosine: number }[]> {
  const options = { intraOpNumThreads: 1, logSeverityLevel: 4 as const }
  const a = await ort.InferenceSession.create(original, options)
  const b = await ort.InferenceSession.create(folded, options)
  try {
    expect(b.inputNames).toEqual(a.inputNames)
    expect(b.outputNames).toEqual(a.outputNames)
    const acc = new Map<string, { diff: number; scale: number; dot: number; na: number; nb: number }>()
    for (const feeds of samples) {
      const ra = await a.run(feeds)
      const rb = await b.run(feeds)
      for (const name of a.outputNames) {
        const x = ra[name]!.data as Float32Array
        const y = rb[name]!.data as Float32Array
        expect(rb[name]!.dims).toEqual(ra[name]!.dims)
        const s = acc.get(name) ?? { diff: 0, scale: 0, dot: 0, na: 0, nb: 0 }
        for (let i = 0; i < x.length; i++) {
          s.diff = Math.max(s.diff, Math.abs(x[i]! - y[i]!))
          s.scale = Math.max(s.scale, Math.abs(x[i]!))
          s.dot += x[i]! * y[i]!
          s.na += x[i]! * x[i]!
          s.nb += y[i]! * y[i]!
        }
        acc.set(name, s)
      }
    }
    return [...acc].map(([name, s]) => ({
      name, relDiff: s.scale > 0 ? s.diff / s.scale : s.diff, cosine: s.na === 0 && s.nb === 0 ? 1 : s.dot / Math.sqrt(s.na * s.nb),
    }))
  } finally {
    await a.release()
    await b.release()
  }
}

async function expectSameOutputs(original: Uint8Array, folded: Uint8Array, samples: Feeds[], relTolerance = 1e-4): Promise<void> {
  for (const o of await compareOutputs(original, folded, samples)) {
    expect(o.relDiff, `output ${o.name}`).toBeLessThanOrEqual(relTolerance)
    expect(o.cosine, `output ${o.name}`).toBeGreaterThanOrEqual(0.999999)
  }
}

function opCounts(model: ModelProto): Map<string, number> {
  const counts = new Map<string, number>()
  for (const n of model.graph?.node ?? []) counts.set(n.op_type ?? '', (counts.get(n.op_type ?? '') ?? 0) + 1)
  return counts
}

function constantNode(t: TensorProto): NodeProto {
  return { name: `const_${t.name}`, op_type: 'Constant', input: [], output: [t.name!], attribute: [{ name: 'value', type: AttributeType.TENSOR, t }] }
}

function scalar(name: string, v: number, dims: number[] = []): TensorProto {
  return makeTensor(name, DataType.FLOAT, dims, Float32Array.of(v))
}

function floats(name: string, dims: number[], values: number[]): TensorProto {
  return makeTensor(name, DataType.FLOAT, dims, Float32Array.from(values))
}

function floatAttrNode(op: string, inputs: string[], outputs: string[], attrs: Record<string, number>): NodeProto {
  return {
    name: `${op}_${outputs[0]}`, op_type: op, input: inputs, output: outputs,
    attribute: Object.entries(attrs).map(([name, f]) => ({ name, type: AttributeType.FLOAT, f })),
  }
}

function randomFeeds(name: string, dims: number[], n: number, seed = 1): Feeds[] {
  const rand = seededRandom(seed)
  const size = dims.reduce((a, b) => a * b, 1)
  return Array.from({ length: n }, () => ({ [name]: new ort.Tensor('float32', Float32Array.from({ length: size }, () => (rand() - 0.5) * 8), dims) }))
}

function producerOf(model: ModelProto, name: string): NodeProto | undefined {
  return model.graph?.node?.find((n) => n.output?.includes(name))
}

function constantBytes(model: ModelProto, name: string): Uint8Array | undefined {
  const n = producerOf(model, name)
  const t = n?.op_type === 'Constant' ? n.attribute?.[0]?.t : model.graph?.initializer?.find((i) => i.name === name)
  return t?.raw_data ? Uint8Array.from(t.raw_data) : undefined
}

describe('folding per-channel affines into convs', () => {
  // Two convs share one weight Constant (as PaddleOCR exports do); a third reads it unfolded.
  function sharedWeightModel(): Uint8Array {
    return buildModel({
      opset: 11,
      nodes: [
        constantNode(randomTensor('W', [4, 3, 3, 3], 1, 0.4)), constantNode(randomTensor('B', [4], 2)),
        constantNode(floats('bn_scale', [4], [1.5, 0.5, -2, 1])), constantNode(floats('bn_bias', [4], [0.1, -0.2, 0.3, 0])),
        constantNode(floats('bn_mean', [4], [0.05, -0.1, 0.2, 0.5])), constantNode(floats('bn_var', [4], [0.9, 1.1, 0.3, 2])),
        constantNode(floats('k', [4, 1, 1], [2, -1, 0.5, 3])), constantNode(scalar('shift', 0.25)), constantNode(floats('k2', [1, 4, 1, 1], [1, 2, 3, 4])),
        { ...node('Conv', ['x', 'W'], ['c1'], { group: 1 }), attribute: [{ name: 'pads', type: AttributeType.INTS, ints: [1, 1, 1, 1] }] },
        { name: 'bn', op_type: 'BatchNormalization', input: ['c1', 'bn_scale', 'bn_bias', 'bn_mean', 'bn_var'], output: ['b1'], attribute: [{ name: 'epsilon', type: AttributeType.FLOAT, f: 1e-5 }] },
        node('Mul', ['k', 'b1'], ['m1']),
        node('Add', ['m1', 'shift'], ['y1']),
        node('Conv', ['x', 'W', 'B'], ['c2']),
        node('Mul', ['c2', 'k2'], ['m2']),
        node('Sub', ['shift', 'm2'], ['y2']),
        node('Div', ['y2', 'shift'], ['y3']),
        node('Conv', ['x', 'W'], ['y4']),
        // `k` is also read by an op that is no affine after a conv
        node('Mul', ['x4', 'k'], ['y5']),
      ],
      initializers: [],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 3, 8, 8]), valueInfo('x4', DataType.FLOAT, [1, 4, 6, 6])],
      outputs: [valueInfo('y1', DataType.FLOAT, [1, 4, 8, 8]), valueInfo('y3', DataType.FLOAT, [1, 4, 6, 6]), valueInfo('y4', DataType.FLOAT, [1, 4, 6, 6]), valueInfo('y5', DataType.FLOAT, [1, 4, 6, 6])],
    })
  }

  it('folds BatchNormalization, Mul, Add, Sub and Div into the preceding Conv without touching shared Constants', async () => {
    const original = sharedWeightModel()
    const before = decodeModelProto(original)
    before.graph!.value_info = [valueInfo('c1', DataType.FLOAT, [1, 4, 8, 8]), valueInfo('b1', DataType.FLOAT, [1, 4, 8, 8]), valueInfo('m2', DataType.FLOAT, [1, 4, 6, 6]), valueInfo('y2', DataType.FLOAT, [1, 4, 6, 6])]
    const withInfo = encodeModelProto(before)
    const { model, folded, report } = fold(withInfo)
    expect(report).toMatchObject({ batchNorms: 1, affines: 5, hardSwish: 0, hardSigmoid: 0 })
    const ops = opCounts(model)
    expect(ops.get('BatchNormalization') ?? 0).toBe(0)
    expect(ops.get('Sub') ?? 0).toBe(0)
    expect(ops.get('Div') ?? 0).toBe(0)
    expect(ops.get('Mul')).toBe(1) // the Mul on the graph input x4
    // the graph's outputs are produced under their names, by the convs themselves
    expect(producerOf(model, 'y1')?.op_type).toBe('Conv')
    expect(producerOf(model, 'y3')?.op_type).toBe('Conv')
    // shared constants: still there, byte for byte, for the readers that were not folded
    expect(constantBytes(model, 'W')).toEqual(constantBytes(decodeModelProto(original), 'W'))
    expect(constantBytes(model, 'k')).toEqual(constantBytes(decodeModelProto(original), 'k'))
    expect(producerOf(model, 'y4')?.input).toEqual(['x', 'W'])
    // orphaned parameters are gone, as are value_info entries of tensors that no longer exist
    for (const gone of ['bn_scale', 'bn_var', 'k2', 'B']) expect(producerOf(model, gone), gone).toBeUndefined()
    expect(model.graph!.value_info!.map((v) => v.name)).toEqual([])
    expect(report.removed).toBe((before.graph!.node!.length) - model.graph!.node!.length)
    expect(model.graph!.node!.length).toBeLessThan(before.graph!.node!.length)
    const samples = [...randomFeeds('x', [1, 3, 8, 8], 3, 5)].map((f, i) => ({ ...f, ...randomFeeds('x4', [1, 4, 6, 6], 1, 10 + i)[0]! }))
    await expectSameOutputs(original, folded, samples)
  })

  it('leaves a Conv whose output is read elsewhere or is a graph output, and constants that vary along other axes', async () => {
    const original = buildModel({
      nodes: [
        node('Conv', ['x', 'W'], ['c1']),
        node('Mul', ['c1', 'k'], ['m1']), // c1 is also read by the Relu
        node('Relu', ['c1'], ['r1']),
        node('Conv', ['x', 'W'], ['c2']), // c2 is a graph output
        node('Add', ['c2', 'k'], ['a2']),
        node('Conv', ['x', 'W'], ['c3']),
        node('Add', ['c3', 'along_h'], ['a3']), // varies along H, not per channel
        node('Conv', ['x', 'W'], ['c4']),
        node('Mul', ['c4', 'x4'], ['m4']), // not a constant
        node('Conv', ['x', 'W'], ['c5']),
        node('Add', ['c5', 'rank5'], ['a5']), // would broadcast the output to rank 5
      ],
      initializers: [randomTensor('W', [4, 3, 3, 3], 3), floats('k', [4, 1, 1], [1, 2, 3, 4]), floats('along_h', [1, 1, 6, 1], [1, 2, 3, 4, 5, 6]), floats('rank5', [1, 1, 4, 1, 1], [1, 2, 3, 4])],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 3, 8, 8]), valueInfo('x4', DataType.FLOAT, [1, 4, 6, 6])],
      outputs: ['m1', 'r1', 'c2', 'a2', 'a3', 'm4', 'a5'].map((n) => valueInfo(n, DataType.FLOAT, n === 'a5' ? [1, 1, 4, 6, 6] : [1, 4, 6, 6])),
    })
    const { model, folded, report } = fold(original)
    expect(report).toMatchObject({ batchNorms: 0, affines: 0, removed: 0 })
    expect(model.graph!.node!.length).toBe(11)
    const samples = randomFeeds('x', [1, 3, 8, 8], 2).map((f, i) => ({ ...f, ...randomFeeds('x4', [1, 4, 6, 6], 1, 20 + i)[0]! }))
    await expectSameOutputs(original, folded, samples, 0)
  })

  it('folds BatchNormalization and Add into a grouped ConvTranspose', async () => {
    const original = buildModel({
      nodes: [
        { ...node('ConvTranspose', ['x', 'W'], ['t'], { group: 2 }), attribute: [{ name: 'group', type: AttributeType.INT, i: 2 }, { name: 'strides', type: AttributeType.INTS, ints: [2, 2] }] },
        node('Add', ['t', 'b'], ['a']),
        { name: 'bn', op_type: 'BatchNormalization', input: ['a', 's', 'beta', 'mean', 'var'], output: ['y'] },
      ],
      // weight [C_in=4, M/g=3, 2, 2]: 6 output channels in 2 groups
      initializers: [randomTensor('W', [4, 3, 2, 2], 4, 0.5), randomTensor('b', [1, 6, 1, 1], 5), floats('s', [6], [1, 2, 3, -1, 0.5, 4]), randomTensor('beta', [6], 6),
        randomTensor('mean', [6], 7), floats('var', [6], [1, 0.5, 2, 0.1, 3, 1])],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 4, 5, 5])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 6, 10, 10])],
    })
    const { model, folded, report } = fold(original)
    expect(report).toMatchObject({ batchNorms: 1, affines: 1, removed: 2 })
    expect(model.graph!.node!.map((n) => n.op_type)).toEqual(['ConvTranspose'])
    expect(model.graph!.initializer!.map((t) => t.name).sort()).toEqual(['ConvTranspose_t_folded_B', 'ConvTranspose_t_folded_W'])
    await expectSameOutputs(original, folded, randomFeeds('x', [1, 4, 5, 5], 3))
  })

  it('folds an affine that feeds an unpadded Conv into it, and keeps one that feeds a padded Conv or gives the input its channels', async () => {
    const padded = { name: 'pads', type: AttributeType.INTS, ints: [1, 1, 1, 1] }
    const built = decodeModelProto(buildModel({
      nodes: [
        node('Relu', ['x'], ['r']),
        node('Mul', ['a', 'r'], ['m']),
        node('Add', ['m', 'b'], ['s']),
        { ...node('Conv', ['s', 'W1', 'B1'], ['y1'], { group: 2 }), attribute: [{ name: 'group', type: AttributeType.INT, i: 2 }] },
        node('Mul', ['r', 'a'], ['m2']),
        node('Add', ['m2', 'b'], ['s2']),
        { ...node('Conv', ['s2', 'W2'], ['y2']), attribute: [padded] },
        // x1 has one channel: the Add is what makes the conv's input four channels wide
        node('Add', ['x1', 'a'], ['s3']),
        node('Conv', ['s3', 'W1'], ['y3'], { group: 2 }),
      ],
      initializers: [floats('a', [1, 4, 1, 1], [0.5, 2, -1, 3]), scalar('b', -0.75), randomTensor('W1', [6, 2, 1, 1], 8), randomTensor('B1', [6], 9), randomTensor('W2', [5, 4, 3, 3], 10)],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 4, 6, 6]), valueInfo('x1', DataType.FLOAT, [1, 1, 6, 6])],
      outputs: [valueInfo('y1', DataType.FLOAT, [1, 6, 6, 6]), valueInfo('y2', DataType.FLOAT, [1, 5, 6, 6]), valueInfo('y3', DataType.FLOAT, [1, 6, 6, 6])],
    }))
    // shape inference's record of r: a per-channel constant folds only when r's channels are known
    built.graph!.value_info = [valueInfo('r', DataType.FLOAT, [1, 4, 6, 6])]
    const original = encodeModelProto(built)
    const { model, folded, report } = fold(original)
    expect(report.affines).toBe(2)
    expect(report.notes.join('\n')).toMatch(/2 of the 2 affines fed an unpadded Conv/)
    expect(producerOf(model, 'y1')?.input?.[0]).toBe('r')
    expect(producerOf(model, 'y2')?.input?.[0]).toBe('s2')
    expect(producerOf(model, 'y3')?.input?.[0]).toBe('s3')
    const samples = randomFeeds('x', [1, 4, 6, 6], 3).map((f, i) => ({ ...f, ...randomFeeds('x1', [1, 1, 6, 6], 1, 50 + i)[0]! }))
    await expectSameOutputs(original, folded, samples)
  })

  it('writes folded weights as Constant nodes in IR 3 models, where initializers are graph inputs', async () => {
    const built = decodeModelProto(buildModel({
      opset: 9,
      nodes: [constantNode(randomTensor('W', [4, 3, 3, 3], 12)), constantNode(floats('k', [4, 1, 1], [1, -2, 3, 0.5])), node('Conv', ['x', 'W'], ['c']), node('Mul', ['c', 'k'], ['y'])],
      initializers: [],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 3, 8, 8])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 4, 6, 6])],
    }))
    built.ir_version = 3
    const original = encodeModelProto(built)
    const { model, folded, report } = fold(original)
    expect(report.affines).toBe(1)
    expect(model.graph!.initializer ?? []).toEqual([])
    expect(model.graph!.node!.map((n) => n.op_type)).toEqual(['Constant', 'Constant', 'Conv'])
    await expectSameOutputs(original, folded, randomFeeds('x', [1, 3, 8, 8], 2))
  })

  it('folds inside If branches, with the branch\'s own constants', async () => {
    const branch = (name: string, seed: number, scale: number[]): AttributeProto => ({
      name, type: AttributeType.GRAPH,
      g: {
        name, node: [constantNode(randomTensor(`${name}_W`, [4, 3, 3, 3], seed)), constantNode(floats(`${name}_k`, [1, 4, 1, 1], scale)),
          node('Conv', ['x', `${name}_W`], [`${name}_c`]), node('Mul', [`${name}_c`, `${name}_k`], [`${name}_y`])],
        output: [valueInfo(`${name}_y`, DataType.FLOAT, [1, 4, 6, 6])],
      },
    })
    const original = buildModel({
      nodes: [{ name: 'if', op_type: 'If', input: ['cond'], output: ['y'], attribute: [branch('then_branch', 13, [1, 2, 3, 4]), branch('else_branch', 14, [-1, 0.5, 2, 1])] }],
      initializers: [],
      inputs: [valueInfo('cond', DataType.BOOL, []), valueInfo('x', DataType.FLOAT, [1, 3, 8, 8])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 4, 6, 6])],
    })
    const { model, folded, report } = fold(original)
    expect(report).toMatchObject({ affines: 2, removed: 6 }) // per branch: the Mul and two orphaned Constants
    const thenGraph = model.graph!.node![0]!.attribute![0]!.g!
    expect(thenGraph.node!.map((n) => n.op_type)).toEqual(['Conv'])
    expect(thenGraph.initializer!.length).toBe(2)
    const x = randomFeeds('x', [1, 3, 8, 8], 2)
    const samples = x.map((f, i) => ({ ...f, cond: new ort.Tensor('bool', Uint8Array.of(i % 2), []) }))
    await expectSameOutputs(original, folded, samples)
  })

  it('reads weights stored in external data when given the source, and says so when not', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'float-fold-'))
    try {
      const built = decodeModelProto(buildModel({
        nodes: [node('Conv', ['x', 'W', 'B'], ['c']), { name: 'bn', op_type: 'BatchNormalization', input: ['c', 's', 'beta', 'mean', 'var'], output: ['y'] }],
        initializers: [randomTensor('W', [16, 3, 3, 3], 15), randomTensor('B', [16], 16), randomTensor('s', [16], 17), randomTensor('beta', [16], 18),
          randomTensor('mean', [16], 19), makeTensor('var', DataType.FLOAT, [16], Float32Array.from({ length: 16 }, (_, i) => 0.5 + i / 8))],
        inputs: [valueInfo('x', DataType.FLOAT, [1, 3, 8, 8])],
        outputs: [valueInfo('y', DataType.FLOAT, [1, 16, 6, 6])],
      }))
      const file = path.join(dir, 'ext.onnx')
      await saveModel(built, file, { externalData: { location: 'ext.bin', sizeThreshold: 16 } })
      const blind = loadModel(file)
      expect(blind.model.graph!.initializer!.filter(isExternal).length).toBe(6)
      const unread = foldForInt8(blind.model)
      expect(unread.batchNorms).toBe(0)
      expect(unread.notes.join('\n')).toMatch(/weights stored in external data were not folded/)
      blind.external!.close()

      const loaded = loadModel(file)
      const report = foldForInt8(loaded.model, { external: loaded.external! })
      loaded.external!.close()
      expect(report).toMatchObject({ batchNorms: 1, removed: 1, notes: [] })
      // the folded weights are new inline tensors; the external ones are no longer read
      expect(loaded.model.graph!.initializer!.filter(isExternal)).toEqual([])
      await expectSameOutputs(encodeModelProto(built), encodeModelProto(loaded.model), randomFeeds('x', [1, 3, 8, 8], 2))
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('handles a node list that is not in topological order', async () => {
    const nodes = [
      node('Conv', ['x', 'W'], ['c']),
      node('Mul', ['c', 'k'], ['m']),
      node('Add', ['m', 'k'], ['a']),
      node('Relu', ['a'], ['y']),
    ].reverse()
    const original = buildModel({
      nodes,
      initializers: [randomTensor('W', [4, 3, 3, 3], 11), floats('k', [1, 4, 1, 1], [1, -2, 3, 0.5])],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 3, 8, 8])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 4, 6, 6])],
    })
    const { model, folded, report } = fold(original)
    expect(report.affines).toBe(2)
    expect(model.graph!.node!.map((n) => n.op_type)).toEqual(['Relu', 'Conv'])
    await expectSameOutputs(original, folded, randomFeeds('x', [1, 3, 8, 8], 2))
  })
})

describe('recognising hard-swish and hard-sigmoid chains', () => {
  // Paddle's export: x -> Add(3) -> Clip(0, 6) -> Mul(x, .) -> Div(6), plus an SE-style gate
  // y * (Clip(g + 3, 0, 6) / 6) and a bare Clip(g + 3, 0, 6) * (1/6).
  function chainModel(opset: number): Uint8Array {
    const clip = (input: string, out: string): NodeProto[] => opset < 11
      ? [floatAttrNode('Clip', [input], [out], { min: 0, max: 6 })]
      : [node('Clip', [input, 'zero', 'six'], [out])]
    return buildModel({
      opset,
      nodes: [
        node('Relu', ['x'], ['h']),
        node('Add', ['h', 'three'], ['h3']), ...clip('h3', 'hc'), node('Mul', ['h', 'hc'], ['hm']), node('Div', ['hm', 'six'], ['hs']),
        node('Add', ['three', 'g'], ['g3']), ...clip('g3', 'gc'), node('Div', ['gc', 'six'], ['gs']), node('Mul', ['hs', 'gs'], ['gated']),
        node('Add', ['g', 'three'], ['g3b']), ...clip('g3b', 'gcb'), node('Mul', ['gcb', 'sixth'], ['gate']),
      ],
      initializers: [scalar('three', 3), scalar('zero', 0), scalar('six', 6), scalar('sixth', 1 / 6)],
      inputs: [valueInfo('x', DataType.FLOAT, [2, 8]), valueInfo('g', DataType.FLOAT, [2, 8])],
      outputs: [valueInfo('gated', DataType.FLOAT, [2, 8]), valueInfo('gate', DataType.FLOAT, [2, 8])],
    })
  }
  const feeds = (): Feeds[] => randomFeeds('x', [2, 8], 3, 30).map((f, i) => ({ ...f, ...randomFeeds('g', [2, 8], 1, 40 + i)[0]! }))

  it('opset 14: one HardSwish node per chain, HardSigmoid for the gates', async () => {
    const original = chainModel(14)
    const { model, folded, report } = fold(original)
    expect(report).toMatchObject({ hardSwish: 1, hardSigmoid: 2, notes: [] })
    expect(model.graph!.node!.map((n) => n.op_type).sort()).toEqual(['HardSigmoid', 'HardSigmoid', 'HardSwish', 'Mul', 'Relu'])
    expect(producerOf(model, 'gate')?.op_type).toBe('HardSigmoid')
    // each chain's last node lends its name to what replaces it: a skip_quant_node line written
    // against the original model (Div_hs, Mul_gated, Mul_gate) still names the same tensor's writer
    expect(producerOf(model, 'hs')?.name).toBe('Div_hs')
    expect(producerOf(model, 'gated')?.name).toBe('Mul_gated')
    expect(producerOf(model, 'gate')?.name).toBe('Mul_gate')
    expect(model.graph!.initializer).toEqual([])
    await expectSameOutputs(original, folded, feeds())
  })

  it('opset 11 and opset 9 (Clip by attributes): HardSigmoid + Mul, which those opsets have', async () => {
    for (const opset of [11, 9]) {
      const original = chainModel(opset)
      const { model, folded, report } = fold(original)
      expect(report.hardSwish).toBe(1)
      expect(report.hardSigmoid).toBe(2)
      expect(report.notes.join('\n')).toMatch(new RegExp(`opset ${opset} has no HardSwish`))
      const ops = opCounts(model)
      expect(ops.get('HardSigmoid')).toBe(3)
      expect(ops.get('Clip') ?? 0).toBe(0)
      expect(ops.get('Div') ?? 0).toBe(0)
      expect(producerOf(model, 'hs')).toMatchObject({ op_type: 'Mul', name: 'Div_hs' })
      await expectSameOutputs(original, folded, feeds())
    }
  })

  it('x * HardSigmoid(x) with alpha 1/6 becomes HardSwish at opset 14; other slopes and opsets stay', async () => {
    const model = (opset: number, alpha: number): Uint8Array => buildModel({
      opset,
      nodes: [floatAttrNode('HardSigmoid', ['x'], ['h'], { alpha, beta: 0.5 }), node('Mul', ['x', 'h'], ['y'])],
      initializers: [],
      inputs: [valueInfo('x', DataType.FLOAT, [2, 8])],
      outputs: [valueInfo('y', DataType.FLOAT, [2, 8])],
    })
    const swish = fold(model(14, 1 / 6))
    expect(swish.report.hardSwish).toBe(1)
    expect(swish.model.graph!.node!.map((n) => [n.op_type, n.name])).toEqual([['HardSwish', 'Mul_y']])
    await expectSameOutputs(model(14, 1 / 6), swish.folded, randomFeeds('x', [2, 8], 2))
    expect(fold(model(14, 0.2)).report.hardSwish).toBe(0)
    expect(fold(model(13, 1 / 6)).report.hardSwish).toBe(0)
  })

  it('a chain tensor read elsewhere keeps the chain', () => {
    const original = buildModel({
      opset: 14,
      nodes: [node('Add', ['x', 'three'], ['x3']), node('Clip', ['x3', 'zero', 'six'], ['c']), node('Mul', ['x', 'c'], ['m']), node('Div', ['m', 'six'], ['y'])],
      initializers: [scalar('three', 3), scalar('zero', 0), scalar('six', 6)],
      inputs: [valueInfo('x', DataType.FLOAT, [2, 8])],
      outputs: [valueInfo('y', DataType.FLOAT, [2, 8]), valueInfo('c', DataType.FLOAT, [2, 8])],
    })
    const { report, model } = fold(original)
    expect(report.hardSwish + report.hardSigmoid + report.removed).toBe(0)
    expect(model.graph!.node!.length).toBe(4)
  })

  it('a one-element constant of higher rank than x (which would broadcast x) keeps the chain; one of lower rank does not', async () => {
    const chain = (threeDims: number[]): Uint8Array => buildModel({
      opset: 14,
      nodes: [node('Add', ['x', 'three'], ['x3']), node('Clip', ['x3', 'zero', 'six'], ['c']), node('Mul', ['x', 'c'], ['m']), node('Div', ['m', 'six'], ['y'])],
      initializers: [scalar('three', 3, threeDims), scalar('zero', 0), scalar('six', 6)],
      inputs: [valueInfo('x', DataType.FLOAT, [2, 8])],
      outputs: [valueInfo('y', DataType.FLOAT, threeDims.length > 2 ? [1, 1, 2, 8] : [2, 8])],
    })
    expect(fold(chain([1, 1, 1, 1])).report.hardSwish).toBe(0)
    const kept = fold(chain([1, 1]))
    expect(kept.report.hardSwish).toBe(1)
    await expectSameOutputs(chain([1, 1]), kept.folded, randomFeeds('x', [2, 8], 2))
  })
})

describe('arithmetic that changes nothing', () => {
  it('x * 1, 1 * x, x / 1 and x + 0 are removed unless they name a graph output or would broadcast x', async () => {
    const original = buildModel({
      nodes: [
        node('Mul', ['x', 'one'], ['a']), node('Mul', ['one', 'a'], ['b']), node('Div', ['b', 'one'], ['c']), node('Add', ['c', 'zero'], ['d']),
        node('Sigmoid', ['d'], ['s']), node('Mul', ['x', 's'], ['y']),
        node('Add', ['y', 'zero'], ['out']), // a graph output: keeps its producer
        node('Mul', ['x', 'one4'], ['wide']), // [1,1,1,1] would make x rank 4
        node('Div', ['one', 'x'], ['inv']), // 1 / x is no identity
      ],
      initializers: [scalar('one', 1), scalar('zero', 0), scalar('one4', 1, [1, 1, 1, 1])],
      inputs: [valueInfo('x', DataType.FLOAT, [2, 8])],
      outputs: [valueInfo('out', DataType.FLOAT, [2, 8]), valueInfo('wide', DataType.FLOAT, [1, 1, 2, 8]), valueInfo('inv', DataType.FLOAT, [2, 8])],
    })
    const { model, folded, report } = fold(original)
    expect(report.removed).toBe(4)
    expect(report.notes).toContain('4 Mul/Div by 1 or Add/Sub of 0 removed')
    expect(producerOf(model, 's')?.input).toEqual(['x'])
    expect(model.graph!.node!.map((n) => n.op_type)).toEqual(['Sigmoid', 'Mul', 'Add', 'Mul', 'Div'])
    await expectSameOutputs(original, folded, randomFeeds('x', [2, 8], 2), 0)
  })
})

describe('real models', () => {
  // The expected counts come from reading the graphs (see the README section): det has 28
  // Conv -> Mul -> Add learnable affines, Add + BatchNorm after its ConvTransposes, 10 more
  // Mul -> Add pairs after activations that feed unpadded 1x1 convs, and 24 hard-swish chains.
  const cases = [
    { name: 'PP-OCRv4 det', file: MODELS.det, samples: () => detSamples(2, 100, 160), expected: { batchNorms: 3, affines: 78, hardSwish: 24, hardSigmoid: 0 }, tolerance: 5e-4 },
    { name: 'PP-OCRv4 rec', file: MODELS.rec, samples: () => recSamples(2), expected: { batchNorms: 6, affines: 80, hardSwish: 28, hardSigmoid: 0 }, identities: 7, tolerance: 1e-4 },
    { name: 'PP-OCR cls', file: MODELS.cls, samples: () => clsSamples(2), expected: { batchNorms: 35, affines: 0, hardSwish: 18, hardSigmoid: 0 }, tolerance: 1e-4 },
  ]
  for (const c of cases) {
    // det is 40 convs deep: onnxruntime's own graph optimizations (all vs disabled) move its
    // output by up to 1.1e-4 on these inputs, and folding by up to 1.7e-4, hence its tolerance
    it(`${c.name}: ${Object.entries(c.expected).map(([k, v]) => `${v} ${k}`).join(', ')}; same outputs`, async () => {
      const original = fs.readFileSync(c.file)
      const before = decodeModelProto(original)
      const { model, folded, report } = fold(original)
      expect(report).toMatchObject(c.expected)
      const was = opCounts(before)
      const now = opCounts(model)
      const get = (m: Map<string, number>, op: string): number => m.get(op) ?? 0
      // the same counts read from the op histograms
      expect(get(now, 'BatchNormalization')).toBe(0)
      expect(get(was, 'BatchNormalization')).toBe(report.batchNorms)
      const arith = (m: Map<string, number>): number => get(m, 'Mul') + get(m, 'Add') + get(m, 'Sub') + get(m, 'Div')
      // each Clip chain loses Add, Clip, Div (and its Mul) and gains HardSigmoid (+ Mul)
      // swish is exported as x * Sigmoid(x * 1): rec's seven Mul-by-1 go too
      const identities = c.identities ?? 0
      if (identities) expect(report.notes).toContain(`${identities} Mul/Div by 1 or Add/Sub of 0 removed`)
      expect(arith(was) - arith(now)).toBe(report.affines + 2 * (report.hardSwish + report.hardSigmoid) + identities)
      expect(get(was, 'Clip') - get(now, 'Clip')).toBe(report.hardSwish + report.hardSigmoid)
      expect(get(now, 'HardSigmoid') - get(was, 'HardSigmoid')).toBe(report.hardSwish + report.hardSigmoid)
      expect(report.removed).toBe(before.graph!.node!.length - model.graph!.node!.length)
      expect(model.graph!.node!.length).toBeLessThan(before.graph!.node!.length * 0.65)
      expect(model.graph!.input!.map((i) => i.name)).toEqual(before.graph!.input!.map((i) => i.name))
      expect(model.graph!.output!.map((o) => o.name)).toEqual(before.graph!.output!.map((o) => o.name))
      await expectSameOutputs(original, folded, await c.samples(), c.tolerance)
    })
  }

  it('silero VAD and openWakeWord models have nothing to fold and come out unchanged', () => {
    for (const file of [MODELS.sileroV5, MODELS.sileroLegacy, MODELS.helloDeepa]) {
      const original = fs.readFileSync(file)
      const { folded, report } = fold(original)
      expect(report, file).toEqual({ batchNorms: 0, affines: 0, hardSwish: 0, hardSigmoid: 0, removed: 0, renamed: [], notes: [] })
      expect(Buffer.compare(folded, encodeModelProto(decodeModelProto(original))), file).toBe(0)
    }
  })
})

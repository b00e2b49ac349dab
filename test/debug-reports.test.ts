// The format's debug CSVs (debug_info_save_path; the CLI's --report-dir): output_summary.csv,
// report_<round>.csv and quant_param.csv on a small model whose node and tensor names hold
// commas, quotes and slashes. Every value is recomputed here from onnxruntime runs of the float
// and the quantized model (tensors exposed by this test, stats by this test's own code).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { AttributeType, DataType, type ModelProto, type NodeProto, type TensorProto } from '../src/onnx/onnx-types.js'
import { makeTensor, tensorToFloat32 } from '../src/onnx/tensor-data.js'
import { debugCsvFiles } from '../src/report/debug-csv/debug-csv-files.js'
import { collectDebugStats, type DebugRow } from '../src/report/debug-csv/debug-stats.js'
import { dequantParams } from '../src/report/debug-csv/dequant-params.js'
import { clipShare } from '../src/report/debug-csv/tensor-stats.js'
import { quantizeModel, type QuantizeResult } from '../src/quantize-model.js'
import { writeDebugCsv } from '../src/report/debug-csv/write-debug-csv.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { buildModel, randomTensor, valueInfo } from './helpers/build-model.js'
import { clsSamples } from './helpers/model-inputs.js'
import { runOnce } from './helpers/ort-run.js'
import { MODELS } from './helpers/models.js'

const here = path.dirname(fileURLToPath(import.meta.url))

// names the CSVs must quote: commas, double quotes, slashes
const X = 'in/x'
const W1 = 'W,a'
const H1 = 'h,"1"'
const N = {
  mm: '/enc/MatMul,0',
  add: '/enc/Add "b"',
  relu: 'relu/1',
  head: 'head,out',
}
const nodes: NodeProto[] = [
  { name: N.mm, op_type: 'MatMul', input: [X, W1], output: [H1] },
  { name: N.add, op_type: 'Add', input: [H1, 'bias'], output: ['h2'] },
  { name: N.relu, op_type: 'Relu', input: ['h2'], output: ['h3'] },
  { name: N.head, op_type: 'MatMul', input: ['h3', 'W2'], output: ['y'] },
]
const float = buildModel({
  nodes,
  initializers: [randomTensor(W1, [16, 32], 11, 0.5), randomTensor('bias', [32], 12), randomTensor('W2', [32, 8], 13, 0.5)],
  inputs: [valueInfo(X, DataType.FLOAT, [1, 16])],
  outputs: [valueInfo('y', DataType.FLOAT, [1, 8])],
})
const rand = seededRandom(5)
const sample = { [X]: new ort.Tensor('float32', Float32Array.from({ length: 16 }, () => rand() * 2 - 1), [1, 16]) }

let dir: string
let saveDir: string
let result: QuantizeResult
let csv: Map<string, string[][]>

// --- an independent reading of the files and recomputation of the figures ---

/** RFC 4180 reader: quoted fields, doubled quotes, CRLF rows. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = []
  let row: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++ } else if (c === '"') quoted = false
      else field += c
    } else if (c === '"') quoted = true
    else if (c === ',') { row.push(field); field = '' } else if (c === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i++ } else field += c
  }
  expect(field).toBe('')
  return rows
}

/** numpy.percentile's default (linear) on a plain sorted copy. */
function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b)
  const pos = (p / 100) * (s.length - 1)
  const lo = Math.floor(pos)
  return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (pos - lo)
}

function stats(v: number[]) {
  const mean = v.reduce((a, b) => a + b, 0) / v.length
  return {
    Min: Math.min(...v), Q1: percentile(v, 25), Median: percentile(v, 50), Q3: percentile(v, 75), Max: Math.max(...v), Mean: mean,
    Var: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length), Sparsity: v.filter((x) => x === 0).length / v.length,
  }
}

function cosine(a: number[], b: number[]): number {
  let d = 0, na = 0, nb = 0
  a.forEach((x, i) => { d += x * b[i]!; na += x * x; nb += b[i]! * b[i]! })
  return na === 0 && nb === 0 ? 1 : d / Math.sqrt(na * nb)
}

/** Every named tensor's values in one run, exposing intermediates as outputs (weights included). */
async function exposedValues(model: Uint8Array, names: string[], feeds: Record<string, ort.Tensor> = sample): Promise<Map<string, number[]>> {
  const m = decodeModelProto(model)
  const g = m.graph!
  const values = new Map<string, number[]>()
  const inits = new Map((g.initializer ?? []).map((t) => [t.name!, t]))
  const produced = new Set((g.node ?? []).flatMap((n) => n.output ?? []))
  for (const name of names) {
    if (!produced.has(name) && inits.has(name)) values.set(name, [...tensorToFloat32(inits.get(name)!)])
  }
  const fetch = names.filter((n) => produced.has(n))
  g.output = fetch.map((name) => ({ name }))
  const out = await runOnce(encodeModelProto(m), feeds)
  for (const name of fetch) values.set(name, [...(out[name]!.data as Float32Array)])
  if (feeds[X]) values.set(X, [...(feeds[X].data as Float32Array)])
  return values
}

beforeAll(async () => {
  fs.mkdirSync(path.join(here, '.tmp'), { recursive: true })
  dir = fs.mkdtempSync(path.join(here, '.tmp/debug-csv-'))
  saveDir = path.join(dir, 'not', 'yet', 'there')
  result = await quantizeModel(float, {
    common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 4, min_quant_weight_channel: 0, debug_info_save_path: saveDir },
  }, { samples: [sample], accuracyTarget: false, biasCorrection: false, sizes: false })
  csv = new Map(fs.readdirSync(saveDir).map((f) => [f, parseCsv(fs.readFileSync(path.join(saveDir, f), 'utf8'))]))
})

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('debug_info_save_path', () => {
  it('creates the folder and writes the three reports (one round for weight quantization), with no temp files left', () => {
    expect([...csv.keys()].sort()).toEqual(['output_summary.csv', 'quant_param.csv', 'report_0.csv'])
    expect(fs.readdirSync(saveDir).some((f) => f.endsWith('.tmp'))).toBe(false)
    expect(result.debugCsv?.map((f) => f.name).sort()).toEqual(['output_summary.csv', 'quant_param.csv', 'report_0.csv'])
  })

  it('a re-run into the same folder removes report_<n>.csv of rounds the new run does not have', () => {
    const again = path.join(dir, 'rerun')
    writeDebugCsv(again, [{ name: 'report_0.csv', text: 'a\n' }, { name: 'report_1.csv', text: 'b\n' }, { name: 'output_summary.csv', text: 'c\n' }])
    fs.writeFileSync(path.join(again, 'notes.txt'), 'kept')
    writeDebugCsv(again, [{ name: 'report_0.csv', text: 'x\n' }, { name: 'output_summary.csv', text: 'y\n' }])
    expect(fs.readdirSync(again).sort()).toEqual(['notes.txt', 'output_summary.csv', 'report_0.csv'])
    expect(fs.readFileSync(path.join(again, 'report_0.csv'), 'utf8')).toBe('x\n')
  })

  it('output_summary.csv: Round, TensorName, CosineSimilarity of each model output', async () => {
    const rows = csv.get('output_summary.csv')!
    expect(rows[0]).toEqual(['Round', 'TensorName', 'CosineSimilarity'])
    const a = await exposedValues(float, ['y'])
    const b = await exposedValues(result.model, ['y'])
    expect(rows).toHaveLength(2)
    expect(rows[1]![0]).toBe('0')
    expect(rows[1]![1]).toBe('y')
    const expected = cosine(a.get('y')!, b.get('y')!)
    expect(Number(rows[1]![2])).toBeCloseTo(expected, 12)
    expect(expected).toBeLessThan(0.9999) // 4-bit weights: the figure measures a real difference
  })

  it('report_0.csv: every node tensor, Origin and Dequant, with the exact columns and recomputed values', async () => {
    const rows = csv.get('report_0.csv')!
    expect(rows[0]).toEqual(['NodeName', 'NodeType', 'TensorName', 'InOutFlag', 'DataTypeFlag', 'TensorTypeFlag', 'Min', 'Q1', 'Median', 'Q3', 'Max', 'Mean', 'Var', 'Sparsity', 'Clip', 'CosineSimilarity'])
    const tensors = [X, W1, H1, 'bias', 'h2', 'h3', 'W2', 'y']
    const a = await exposedValues(float, tensors)
    const b = await exposedValues(result.model, tensors)
    // the rows, in graph order: inputs then outputs of each node, Origin then Dequant
    const expectedKeys = nodes.flatMap((n) => [...(n.input ?? []).map((t) => ['Input', t] as const), ...(n.output ?? []).map((t) => ['Output', t] as const)]
      .flatMap(([io, t]) => (['Origin', 'Dequant'] as const).map((d) => [n.name, n.op_type, t, io, d, [W1, 'bias', 'W2'].includes(t) ? 'Weight' : 'Activation'].join('|'))))
    expect(rows.slice(1).map((r) => r.slice(0, 6).join('|'))).toEqual(expectedKeys)
    for (const r of rows.slice(1)) {
      const [, , tensor, , flag] = r
      const origin = a.get(tensor!)!
      const values = flag === 'Origin' ? origin : b.get(tensor!)!
      const want = stats(values)
      const got = Object.fromEntries(rows[0]!.map((h, i) => [h, r[i]!]))
      for (const key of Object.keys(want) as (keyof typeof want)[]) expect(Number(got[key]), `${tensor} ${flag} ${key}`).toBeCloseTo(want[key], 5)
      const lo = Math.min(...values)
      const hi = Math.max(...values)
      // Clip: the share cut off by a quantized range; tensors computed in float have none
      const quantized = flag === 'Dequant' && [W1, 'W2'].includes(tensor!)
      expect(Number(got.Clip), `${tensor} ${flag} Clip`).toBeCloseTo(quantized ? origin.filter((x) => x < lo || x > hi).length / origin.length : 0, 12)
      expect(Number(got.CosineSimilarity), `${tensor} ${flag} cosine`).toBeCloseTo(flag === 'Origin' ? 1 : cosine(origin, values), 9)
    }
    // the quantized weights differ from the float ones, the bias (rank 1) does not
    const row = (t: string) => rows.find((r) => r[2] === t && r[4] === 'Dequant')!
    expect(Number(row(W1)[15])).toBeLessThan(0.999)
    expect(Number(row('bias')[15])).toBe(1)
    // relu's output is about half zeros, and Sparsity says so
    expect(Number(rows.find((r) => r[2] === 'h3' && r[4] === 'Origin')![13])).toBeGreaterThan(0.2)
  })

  it('quant_param.csv: one row per channel of each quantized weight and node; its Scale and ZeroPoint decode the stored codes to what onnxruntime computes', async () => {
    const rows = csv.get('quant_param.csv')!
    expect(rows[0]).toEqual(['NodeName', 'NodeType', 'TensorName', 'ElementsNum', 'Dims', 'Scale', 'ZeroPoint', 'Bits', 'CorrectionVar', 'CorrectionMean'])
    // MatMul weights are quantized per output column (the last axis): 32 rows for W1, 8 for W2
    const keys = rows.slice(1).map((r) => [r[0], r[1], r[2], r[3], r[4], r[7]].join('|'))
    expect(keys).toEqual([
      ...Array(32).fill([N.mm, 'MatMul', W1, '512', '16 32', '4'].join('|')),
      ...Array(8).fill([N.head, 'MatMul', 'W2', '256', '32 8', '4'].join('|')),
    ])
    const q = decodeModelProto(result.model)
    const dequant = await exposedValues(result.model, [W1, 'W2'])
    for (const tensor of [W1, 'W2']) {
      const lines = rows.slice(1).filter((r) => r[2] === tensor)
      const [rowsN, cols] = lines[0]![4]!.split(' ').map(Number) as [number, number]
      const scale = lines.map((r) => Number(r[5]))
      const zp = lines.map((r) => Number(r[6]))
      for (const r of lines) {
        expect(Number.isFinite(Number(r[8])) && Number.isFinite(Number(r[9]))).toBe(true)
      }
      const codesTensor = [...(q.graph!.initializer ?? []), ...(q.graph!.node ?? []).flatMap((n) => (n.attribute ?? []).map((at) => at.t).filter((t) => t !== undefined))]
        .find((t) => t!.name === `${tensor}_quantized`)!
      expect(codesTensor.data_type).toBe(DataType.INT8)
      const codes = new Int8Array(codesTensor.raw_data!.buffer, codesTensor.raw_data!.byteOffset, rowsN * cols)
      const actual = dequant.get(tensor)!
      for (let i = 0; i < rowsN * cols; i++) {
        const c = i % cols
        expect(Math.abs((codes[i]! - zp[c]!) * scale[c]! - actual[i]!)).toBeLessThan(1e-5 * (1 + Math.abs(actual[i]!)))
        expect(codes[i]!).toBeGreaterThanOrEqual(-8)
        expect(codes[i]!).toBeLessThanOrEqual(7)
      }
    }
  })

  it('quotes names with commas and quotes, and keeps slashes as they are', () => {
    const raw = fs.readFileSync(path.join(saveDir, 'report_0.csv'), 'utf8')
    expect(raw).toContain('"/enc/MatMul,0",MatMul,in/x,Input,Origin,Activation,')
    expect(raw).toContain('"/enc/Add ""b""",Add,"h,""1""",Input,')
    expect(raw).toContain('relu/1,Relu,h2,Input,')
    expect(raw.split('\r\n').slice(1, -1).every((line) => parseCsv(`${line}\r\n`)[0]!.length === 16)).toBe(true)
  })

  it('a debug folder under a file is a clear error naming it, and no model is returned', async () => {
    const blocker = path.join(dir, 'file')
    fs.writeFileSync(blocker, 'x')
    await expect(quantizeModel(float, {
      common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8, min_quant_weight_channel: 0, debug_info_save_path: path.join(blocker, 'debug') },
    }, { samples: [sample], accuracyTarget: false, sizes: false })).rejects.toThrow(`${path.join(blocker, 'debug')}: cannot create the debug report folder`)
  })
})

describe('several rounds (FULL_QUANT writes one report per calibration sample)', () => {
  it('report_<round>.csv per sample, and output_summary.csv has each round\'s output cosine', async () => {
    const samples = [1, 2, 3].map((seed) => {
      const r = seededRandom(seed)
      return { [X]: new ort.Tensor('float32', Float32Array.from({ length: 16 }, () => r() * 2 - 1), [1, 16]) }
    })
    const stats = await collectDebugStats(float, result.model, samples)
    const files = debugCsvFiles(stats, result.report.layers)
    expect(files.map((f) => f.name)).toEqual(['output_summary.csv', 'report_0.csv', 'report_1.csv', 'report_2.csv', 'quant_param.csv'])
    const summary = parseCsv(files[0]!.text)
    expect(summary.map((r) => r.slice(0, 2))).toEqual([['Round', 'TensorName'], ['0', 'y'], ['1', 'y'], ['2', 'y']])
    for (const [i, feeds] of samples.entries()) {
      const a = await exposedValues(float, ['y', 'h3'], feeds)
      const b = await exposedValues(result.model, ['y', 'h3'], feeds)
      expect(Number(summary[i + 1]![2])).toBeCloseTo(cosine(a.get('y')!, b.get('y')!), 12)
      // each round's report holds that sample's figures
      const rows = parseCsv(files[i + 1]!.text)
      const median = rows.find((r) => r[2] === 'h3' && r[3] === 'Output' && r[4] === 'Dequant')![8]
      expect(Number(median)).toBeCloseTo(percentile(b.get('h3')!, 50), 6)
    }
  })
})

describe('a real model (PP-OCR cls): statistics in batches of tensors, exact quartiles', () => {
  const CLS = MODELS.cls
  const cfg = { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 6 } }

  it('the tensors exposed in batches (2 session pairs for its 472 names) give what one session pair gives', async () => {
    const bytes = new Uint8Array(fs.readFileSync(CLS))
    const q = await quantizeModel(bytes, cfg, { verify: false, sizes: false, accuracyTarget: false, debug: false })
    const samples = await clsSamples(1)
    const batched = await collectDebugStats(bytes, q.model, samples)
    const whole = await collectDebugStats(bytes, q.model, samples, { batchNames: 100_000 })
    const key = (r: DebugRow) => `${r.nodeName}\u0000${r.tensorName}\u0000${r.inOut}\u0000${r.dataType}`
    const want = new Map(whole.rounds[0]!.rows.map((r) => [key(r), r]))
    expect(batched.rounds[0]!.rows.map(key)).toEqual(whole.rounds[0]!.rows.map(key))
    expect(want.size).toBeGreaterThan(400)
    // separate sessions may fuse differently around the tensors they expose: float noise only
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b))
    for (const r of batched.rounds[0]!.rows) {
      const w = want.get(key(r))!
      for (const f of ['min', 'q1', 'median', 'q3', 'max', 'mean', 'std'] as const) expect(close(r.stats[f], w.stats[f]), `${key(r)} ${f}`).toBe(true)
      expect(r.stats.count).toBe(w.stats.count)
      expect(Math.abs(r.cosine - w.cosine)).toBeLessThan(1e-6)
    }
    expect(batched.rounds[0]!.outputs).toHaveLength(1)
    expect(batched.rounds[0]!.outputs[0]!.cosine).toBeCloseTo(whole.rounds[0]!.outputs[0]!.cosine, 9)
    expect(batched.histograms.size).toBe(whole.histograms.size)
  })

  it('quartiles, mean and std of the largest activations are those of the values themselves', async () => {
    const bytes = new Uint8Array(fs.readFileSync(CLS))
    const q = await quantizeModel(bytes, cfg, { verify: false, sizes: false, accuracyTarget: false, debug: false })
    const [sample] = await clsSamples(1)
    const stats = await collectDebugStats(bytes, q.model, [sample!])
    // the three largest tensors take the two-pass radix path of exactQuantiles (32 Ki values and up)
    const origin = stats.rounds[0]!.rows.filter((r) => r.dataType === 'Origin' && r.tensorType === 'Activation')
    const largest = [...new Map(origin.map((r) => [r.tensorName, r])).values()].sort((a, b) => b.stats.count - a.stats.count).slice(0, 3)
    expect(largest[2]!.stats.count).toBeGreaterThanOrEqual(1 << 15)
    const values = await exposedValues(bytes, largest.map((r) => r.tensorName), sample!)
    // a session exposing only these three may fuse its kernels differently: float noise apart
    const close = (got: number, want: number, what: string) => expect(Math.abs(got - want), what).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)))
    for (const r of largest) {
      const v = values.get(r.tensorName)!
      close(r.stats.q1, percentile(v, 25), `${r.tensorName} Q1`)
      close(r.stats.median, percentile(v, 50), `${r.tensorName} median`)
      close(r.stats.q3, percentile(v, 75), `${r.tensorName} Q3`)
      const mean = v.reduce((x, y) => x + y, 0) / v.length
      close(r.stats.mean, mean, `${r.tensorName} mean`)
      close(r.stats.std, Math.sqrt(v.reduce((x, y) => x + (y - mean) ** 2, 0) / v.length), `${r.tensorName} std`)
    }
  })

  it('unasked (verification on small inputs), the pass fills the report\'s summary and returns no CSVs; asked, it returns them', async () => {
    const samples = await clsSamples(1)
    const unasked = await quantizeModel(CLS, cfg, { samples, sizes: false, accuracyTarget: false })
    expect(unasked.report.debug?.layers.length).toBeGreaterThan(10)
    expect(unasked.debugCsv).toBeUndefined()
    const asked = await quantizeModel(CLS, cfg, { samples, sizes: false, accuracyTarget: false, debug: true })
    expect(asked.debugCsv?.map((f) => f.name).sort()).toEqual(['output_summary.csv', 'quant_param.csv', 'report_0.csv'])
    // the summary does not depend on the quartiles the CSVs add
    expect(asked.report.debug!.layers).toEqual(unasked.report.debug!.layers)
  })
})

describe('quant_param.csv of a 4-bit DequantizeLinear', () => {
  // ONNX packs 4-bit values two to a byte (and two to an int32_data entry), the first in the low nibble
  const dq = (zeroPoint: TensorProto): ModelProto => ({
    ir_version: 10,
    opset_import: [{ domain: '', version: 21 }],
    graph: {
      name: 'g',
      node: [{ name: 'dq', op_type: 'DequantizeLinear', input: ['codes', 'scale', 'zp'], output: ['w'], attribute: [{ name: 'axis', type: AttributeType.INT, i: 0 }] }],
      initializer: [
        { name: 'codes', data_type: zeroPoint.data_type, dims: [2, 2], raw_data: Uint8Array.of(0x21, 0x43) },
        makeTensor('scale', DataType.FLOAT, [2], Float32Array.of(0.5, 0.25)),
        { ...zeroPoint, name: 'zp' },
      ],
    },
  })

  it('reads each channel\'s zero point from its nibble, signed for INT4, from raw_data and from int32_data', () => {
    const cases: [TensorProto, number[]][] = [
      [{ data_type: DataType.INT4, dims: [2], raw_data: Uint8Array.of(0xe3) }, [3, -2]],
      [{ data_type: DataType.UINT4, dims: [2], raw_data: Uint8Array.of(0xe3) }, [3, 14]],
      [{ data_type: DataType.INT4, dims: [2], int32_data: [0x9f] }, [-1, -7]],
      [{ data_type: DataType.UINT4, dims: [2], int32_data: [0x9f] }, [15, 9]],
    ]
    for (const [zp, expected] of cases) {
      const p = dequantParams(dq(zp)).get('w')!
      expect([...p.zeroPoint], DataType[zp.data_type!]).toEqual(expected)
      expect([p.bits, p.axis]).toEqual([4, 0])
    }
  })
})

describe('the Clip column', () => {
  it('counts the original values beyond either end of the dequantized values\' span', () => {
    // dequantized span [-0.5, 0.5]: -1 below it, 1 and 2 above, the ends themselves kept
    expect(clipShare(Float32Array.from([-1, -0.5, 0, 0.5, 1, 2]), Float32Array.from([-0.5, 0.5, 0]))).toBe(3 / 6)
    expect(clipShare(Float32Array.from([-3, -2, 0.1]), Float32Array.from([-1, 1]))).toBe(2 / 3)
    expect(clipShare(Float32Array.from([]), Float32Array.from([1]))).toBe(0)
  })
})

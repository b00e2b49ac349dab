// The HTML report: per model sizes, cosine, time and cache state; a per-layer chart of output
// cosine and weight width; histograms of original vs dequantized values for the worst layers;
// and the format's recommendations with the exact skip_quant_node line to paste. The
// recommendations are checked on constructed cases (a hand-made QDQ model with a heavily
// clipped layer, a Concat of mismatched ranges and a coarsely quantized layer); the page is
// rendered in headless Chromium (no console errors, no request leaves the page) and a
// screenshot is kept in test/.tmp/report-html*.png.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ort from 'onnxruntime-node'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DataType, type NodeProto } from '../src/onnx/onnx-types.js'
import { makeTensor } from '../src/onnx/tensor-data.js'
import { quantizeModel, type QuantizeReport } from '../src/quantize-model.js'
import { collectDebugStats } from '../src/report/debug-csv/debug-stats.js'
import { summarizeDebug, type DebugSummary } from '../src/report/debug-csv/debug-summary.js'
import { renderReportHtml, type ReportModel } from '../src/report/html/render-report.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { assertChromium, launchChromium, skipBrowser } from './helpers/chromium.js'
import { buildModel, randomTensor, valueInfo } from './helpers/build-model.js'
import { clsSamples } from './helpers/model-inputs.js'
import { runOnce } from './helpers/ort-run.js'
import { MODELS } from './helpers/models.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const CLS = MODELS.cls

const rand = seededRandom(21)
const sample = {
  a: new ort.Tensor('float32', Float32Array.from({ length: 32 }, () => rand() * 2 - 1), [1, 32]),
  b: new ort.Tensor('float32', Float32Array.from({ length: 32 }, () => rand() * 2 - 1), [1, 32]),
}
const weights = () => [
  randomTensor('W1', [32, 32], 1, 0.5), randomTensor('W3', [32, 32], 3, 0.5), randomTensor('W4', [32, 32], 4, 0.5), makeTensor('k1000', DataType.FLOAT, [], Float32Array.of(1000)),
]
const io = {
  inputs: [valueInfo('a', DataType.FLOAT, [1, 32]), valueInfo('b', DataType.FLOAT, [1, 32])],
  outputs: [valueInfo('c', DataType.FLOAT, [1, 64]), valueInfo('k', DataType.FLOAT, [1, 32]), valueInfo('r2', DataType.FLOAT, [1, 32])],
}
const n = (name: string, op: string, input: string[], output: string[], axis?: number): NodeProto =>
  ({ name, op_type: op, input, output, attribute: axis === undefined ? [] : [{ name: 'axis', type: 2, i: axis }] })

/**
 * h = a·W1 (mm_clip), k = a·W3 (mm_coarse), big = 1000 b, c = Concat(h, big): ranges ±2 vs
 * ±1000; r = a·W4 (mm_relu) read only by a Relu.
 */
const relu = [n('mm_relu', 'MatMul', ['a', 'W4'], ['r_pre']), n('relu', 'Relu', ['r'], ['r2'])]
const floatModel = buildModel({
  nodes: [
    n('mm_clip', 'MatMul', ['a', 'W1'], ['h']), n('mm_coarse', 'MatMul', ['a', 'W3'], ['k']), n('scale_big', 'Mul', ['b', 'k1000'], ['big']), n('cat', 'Concat', ['h', 'big'], ['c'], 1),
    n('mm_relu', 'MatMul', ['a', 'W4'], ['r']), n('relu', 'Relu', ['r'], ['r2']),
  ],
  initializers: weights(), ...io,
})

/**
 * The same graph as a FULL_QUANT-style QDQ model keeps names: `h` and `k` are now
 * DequantizeLinear outputs. h's scale covers a quarter of its range (heavy clipping); k's grid
 * has 5 levels over its range (no clipping, coarse); r gets its Relu's range [0, max] (zero
 * point 0), as FULL_QUANT gives a tensor only a Relu reads: cutting its negatives is no error.
 */
async function qdqModel(): Promise<Uint8Array> {
  const out = await runOnce(buildModel({ nodes: [n('mm_clip', 'MatMul', ['a', 'W1'], ['c']), n('mm_coarse', 'MatMul', ['a', 'W3'], ['k']), n('mm_relu', 'MatMul', ['a', 'W4'], ['r2'])], initializers: weights(), ...io }), sample)
  const maxAbs = (t: ort.Tensor) => Math.max(...Array.from(t.data as Float32Array, Math.abs))
  const q = (name: string, scale: number, zp = 128) => [
    makeTensor(`${name}_s`, DataType.FLOAT, [], Float32Array.of(scale)), makeTensor(`${name}_zp`, DataType.UINT8, [], Uint8Array.of(zp)),
  ]
  const qdq = (pre: string, name: string): NodeProto[] => [
    n(`${name}_Q`, 'QuantizeLinear', [pre, `${name}_s`, `${name}_zp`], [`${name}_q`]), n(`${name}_DQ`, 'DequantizeLinear', [`${name}_q`, `${name}_s`, `${name}_zp`], [name]),
  ]
  return buildModel({
    nodes: [
      n('mm_clip', 'MatMul', ['a', 'W1'], ['h_pre']), ...qdq('h_pre', 'h'),
      n('mm_coarse', 'MatMul', ['a', 'W3'], ['k_pre']), ...qdq('k_pre', 'k'),
      n('scale_big', 'Mul', ['b', 'k1000'], ['big']), n('cat', 'Concat', ['h', 'big'], ['c'], 1),
      relu[0]!, ...qdq('r_pre', 'r'), relu[1]!,
    ],
    initializers: [...weights(), ...q('h', maxAbs(out.c!) / 4 / 127), ...q('k', maxAbs(out.k!) / 2), ...q('r', maxAbs(out.r2!) / 255, 0)],
    ...io,
  })
}

const emptyReport = (over: Partial<QuantizeReport>): QuantizeReport => ({
  input: 'constructed.onnx', quantType: 'FULL_QUANT', bitNum: 8, config: 'constructed.cfg', sizeIn: 9000, sizeOut: 3000,
  sizesIn: { raw: 9000, gzip: 8000, brotli: 7900 }, sizesOut: { raw: 3000, gzip: 2500, brotli: 2400 },
  durationMs: 420, nodesQuantized: 2, nodesSkipped: 0, cosineSimilarity: 0.91, verification: null,
  layers: [], skipped: [], biasCorrected: 0, accuracy: null, full: null, dynamic: null, mixedBit: null, warnings: [], ...over,
})

let summary: DebugSummary
let realModel: ReportModel
let constructedModel: ReportModel

beforeAll(async () => {
  const stats = await collectDebugStats(floatModel, await qdqModel(), [sample])
  summary = summarizeDebug(stats, [], { quantType: 'FULL_QUANT', skipQuantNode: ['already'], inputs: 'given' })
  constructedModel = { source: 'constructed.onnx', emitted: 'assets/constructed-1a2b.onnx', config: 'constructed.cfg', kind: 'quantized', report: emptyReport({ debug: summary, verification: { cosine: 0.91, outputs: [], samples: 3, inputs: 'held-out', error: null, nativeInt8Cosine: null } }), sizeIn: 9000, sizeOut: 3000, status: 'cache miss', message: null }
  // A real model's page: PP-OCR cls at 4-bit weights, statistics on real word images. Nearest
  // rounding, so that quantized convs are among the six worst layers and weight histograms are
  // drawn: with error feedback the six worst are Mul and BatchNormalization layers after them.
  const samples = await clsSamples(2)
  const r = await quantizeModel(CLS, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 4 } }, { samples, debug: true, errorFeedback: false })
  realModel = { source: 'models/cls.onnx', emitted: 'assets/cls-9f8e.onnx', config: 'models/cls.onnx.cfg', kind: 'quantized', report: r.report, sizeIn: r.report.sizeIn, sizeOut: r.report.sizeOut, status: 'cache hit', message: null }
})

describe('recommendations on constructed cases', () => {
  const rec = (kind: string, node: string) => summary.recommendations.find((r) => r.kind === kind && r.node === node)

  it('a layer with heavy clipping: high Clip, with the line to paste', () => {
    const r = rec('clip', 'mm_clip')!
    expect(r).toBeDefined()
    expect(r.line).toBe('skip_quant_node=already,mm_clip')
    const clip = summary.layers.find((l) => l.node === 'mm_clip')!.gridClip
    expect(clip).toBeGreaterThan(0.3) // a quarter of the range kept: most values are cut off
    expect(r.reason).toBe(`${(clip * 100).toFixed(1)}% of its values fall outside the quantization grid and are cut off`)
    expect(rec('clip', 'mm_coarse')).toBeUndefined() // coarse, but nothing cut off
  })

  it('a Concat whose inputs differ widely in range', () => {
    const r = rec('range-mismatch', 'cat')!
    expect(r.line).toBe('skip_quant_node=already,cat')
    expect(r.reason).toMatch(/^input ranges differ \d+x: h \[-?[\d.]+, [\d.]+\] vs big \[-[\d.]+, [\d.]+\]$/)
    expect(Number(/differ (\d+)x/.exec(r.reason)![1])).toBeGreaterThan(100)
  })

  it('a tensor only a Relu reads is judged as the Relu sees it: its cut negatives are no clipping', () => {
    const l = summary.layers.find((x) => x.node === 'mm_relu')!
    expect(l.quantized).toBe(true)
    expect(l.clip).toBeLessThan(0.05) // about half its values are negative: all cut, none matter
    expect(l.cosine).toBeGreaterThan(0.999)
    expect(summary.recommendations.some((r) => r.node === 'mm_relu')).toBe(false)
  })

  it('low-cosine layers, worst first, and one line for all of them', () => {
    const low = summary.recommendations.filter((r) => r.kind === 'low-cosine').map((r) => r.node)
    expect(low.sort()).toEqual(['mm_clip', 'mm_coarse'])
    expect(rec('low-cosine', 'mm_coarse')!.line).toBe('skip_quant_node=already,mm_coarse')
    expect(summary.skipLine).toBe('skip_quant_node=already,mm_clip,cat,mm_coarse')
    // Mul and Concat add no error of their own here: not recommended for low cosine
    expect(rec('low-cosine', 'scale_big')).toBeUndefined()
    expect(rec('low-cosine', 'cat')).toBeUndefined()
  })

  it('never a node that touches no quantized tensor; Add/Concat ranges only when activations are quantized', async () => {
    // scale_big reads b and a float constant and writes big: nothing of it is quantized
    for (const quantType of ['FULL_QUANT', 'WEIGHT_QUANT'] as const) {
      const s = summarizeDebug(await collectDebugStats(floatModel, await qdqModel(), [sample]), [], { quantType, skipQuantNode: [], inputs: 'given' })
      expect(s.recommendations.some((r) => r.node === 'scale_big')).toBe(false)
      expect(s.recommendations.some((r) => r.kind === 'range-mismatch')).toBe(quantType === 'FULL_QUANT')
      expect(s.layers.find((l) => l.node === 'scale_big')?.quantized).toBe(false)
      expect(s.layers.find((l) => l.node === 'cat')?.quantized).toBe(true) // it reads h, a DequantizeLinear output
    }
  })
})

describe('the page', () => {
  it('holds the lines to paste, the chart, the histograms of the worst layers and the model facts', () => {
    const html = renderReportHtml([constructedModel])
    for (const r of summary.recommendations) expect(html).toContain(`<pre class="line">${r.line}</pre>`)
    expect(html).toContain('<pre class="line">skip_quant_node=already,mm_clip,cat,mm_coarse</pre>')
    expect(html).toContain('aria-label="output cosine per layer"')
    expect(html.match(/<figure class="hist">/g)?.length).toBe(summary.histograms.length)
    expect(summary.histograms.map((h) => h.node)).toContain('mm_clip')
    expect(html).toContain('FULL_QUANT 8-bit')
    expect(html).toContain('0.910000 on 3 held-out input samples')
    expect(html).toContain('420 ms')
    expect(html).toContain('cache miss')
    expect(html).toContain('33.3%')
  })

  it('gives the cosine of onnxruntime-node\'s saturating int8 kernels beside the exact one when they were measured', () => {
    const verification = { cosine: 0.98, outputs: [], samples: 4, inputs: 'held-out' as const, error: null }
    const saturating = renderReportHtml([{ ...constructedModel, report: emptyReport({ cosineSimilarity: 0.98, verification: { ...verification, nativeInt8Cosine: 0.9512 } }) }])
    expect(saturating).toContain('int8 kernels of this CPU')
    expect(saturating).toContain('0.951200: onnxruntime-node here saturates int8 sums (no VNNI)')
    const exact = renderReportHtml([{ ...constructedModel, report: emptyReport({ cosineSimilarity: 0.98, verification: { ...verification, nativeInt8Cosine: null } }) }])
    expect(exact).not.toContain('int8 kernels of this CPU')
  })

  it('a real model (PP-OCR cls, 4-bit weights) gets the per-layer chart, bits and histograms', () => {
    const d = realModel.report!.debug!
    expect(d.layers.length).toBeGreaterThan(50)
    expect(new Set(d.layers.map((l) => l.bits))).toEqual(new Set([null, 4]))
    expect(d.histograms.some((h) => h.kind === 'weight')).toBe(true)
    const html = renderReportHtml([realModel])
    expect(html).toContain('4-bit weight')
    expect(html).toContain('float')
    expect(html).toContain('cache hit')
  })

  it('is self-contained: no script, no external reference', () => {
    for (const html of [renderReportHtml([constructedModel]), renderReportHtml([realModel, constructedModel])]) {
      expect(html).not.toMatch(/<script/i)
      expect(html).not.toMatch(/https?:\/\//)
      expect(html).not.toMatch(/\b(?:src|srcset|href)=["'](?!#)/i)
    }
  })
})

describe.skipIf(skipBrowser)('in headless Chromium', () => {
  let browser: Browser | undefined

  beforeAll(async () => {
    assertChromium()
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
  })

  it('renders with no console error and no request, and the screenshot is kept', async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } })
    const problems: string[] = []
    page.on('console', (msg) => { if (msg.type() === 'error' || msg.type() === 'warning') problems.push(`console.${msg.type()}: ${msg.text()}`) })
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
    page.on('request', (req) => { if (!req.url().startsWith('data:') && req.url() !== 'about:blank') problems.push(`request: ${req.url()}`) })
    await page.setContent(renderReportHtml([realModel, constructedModel], { title: 'unplugin-quantize report (test)' }), { waitUntil: 'load' })
    const chart = await page.locator('svg.chart').first().boundingBox()
    expect(chart?.width).toBeGreaterThan(300)
    expect(chart?.height).toBeGreaterThan(100)
    expect(await page.locator('figure.hist').count()).toBe(realModel.report!.debug!.histograms.length + summary.histograms.length)
    expect(await page.locator('pre.line').allTextContents()).toContain('skip_quant_node=already,mm_clip')
    fs.mkdirSync(path.join(here, '.tmp'), { recursive: true })
    const shot = path.join(here, '.tmp/report-html.png')
    await page.screenshot({ path: shot, fullPage: true })
    expect(fs.statSync(shot).size).toBeGreaterThan(10_000)
    expect(problems).toEqual([])
    await page.close()
  })
})

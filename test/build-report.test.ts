import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'vite'
import webpack from 'webpack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// the page is rendered by src/report/html (test/report-html.test.ts); the plugin re-exports it
import { renderReportHtml, summaryTable, type ReportModel } from '../plugins/core/build-report.js'
import quantizeEsbuild from '../plugins/esbuild.js'
import quantizeVite from '../plugins/vite.js'
import quantizeWebpack from '../plugins/webpack.js'
import type { QuantizeReport } from '../src/quantize-model.js'
import { MODELS } from './helpers/models.js'
import { esbuildBundle, readTree, runCompiler, viteProductionBuild } from './helpers/bundler-build.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const FLOAT = MODELS.helloDeepa
// every character HTML cares about, in a path the report shows
const CFG = `cfgs/r&d <"8bit">'.cfg`

let dir: string
let cacheDir: string

beforeAll(() => {
  fs.mkdirSync(path.join(here, '.tmp'), { recursive: true })
  dir = fs.mkdtempSync(path.join(here, '.tmp/report-'))
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><html><head><meta charset="utf-8"></head><body><script type="module" src="./main.js"></script></body></html>\n')
  fs.writeFileSync(path.join(dir, 'main.js'), `import model from './hello_deepa.onnx'\ndocument.body.dataset.model = model\n`)
  fs.copyFileSync(FLOAT, path.join(dir, 'hello_deepa.onnx'))
  fs.mkdirSync(path.join(dir, 'cfgs'))
  fs.writeFileSync(path.join(dir, CFG), '[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=8\n')
  cacheDir = path.join(dir, '.cache')
})

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

/** The emitted files as text, models as '' (only their names matter here). */
function asText(files: Map<string, Buffer>): Map<string, string> {
  return new Map([...files].map(([name, bytes]) => [name, name.endsWith('.onnx') ? '' : bytes.toString('utf8')]))
}

const readTextTree = (outDir: string): Map<string, string> => asText(readTree(outDir))

async function viteBuild(): Promise<{ files: Map<string, string>; info: string[] }> {
  const plugin = quantizeVite({ cacheDir, defaultConfig: CFG, verify: true })
  const { files, info } = await viteProductionBuild(dir, [plugin], path.join(dir, 'dist-vite'))
  return { files: asText(files), info }
}

function expectSelfContained(html: string): void {
  expect(html).not.toMatch(/<script/i)
  expect(html).not.toMatch(/https?:\/\//)
  expect(html).not.toMatch(/\b(?:src|srcset)=/i)
}

describe('quantize-report.html (vite)', () => {
  let first: Awaited<ReturnType<typeof viteBuild>>
  let second: Awaited<ReturnType<typeof viteBuild>>
  let modelName: string

  beforeAll(async () => {
    first = await viteBuild()
    second = await viteBuild()
    modelName = [...first.files.keys()].find((f) => /^assets\/hello_deepa-.*\.onnx$/.test(f))!
  })

  it('is emitted at the bundle root with the hashed model name, sizes, cosine and the cache state', () => {
    expect(modelName).toBeDefined()
    const html = first.files.get('quantize-report.html')!
    expect(html).toBeDefined()
    expect(html).toContain(modelName)
    expect(html).toContain('hello_deepa.onnx')
    const report = JSON.parse(first.files.get(modelName.replace(/\.onnx$/, '.quant.json'))!) as { sizes: { in: { raw: number }; out: { raw: number } }; cosineSimilarity: number }
    expect(html).toContain(`${(report.sizes.in.raw / 1024).toFixed(1)} KiB`)
    expect(html).toContain(`${(report.sizes.out.raw / 1024).toFixed(1)} KiB`)
    expect(html).toContain('gzip')
    expect(html).toContain('brotli')
    expect(html).toContain(report.cosineSimilarity.toFixed(6))
    expect(html).toContain('WEIGHT_QUANT 8-bit')
    expect(html).toContain('cache miss')
    expect(html).not.toContain('cache hit')
    expect(html).toMatch(/<details><summary>\d+ quantized weights?/)
    // the engine's renderer (src/report/html): verified on small inputs, so the per-layer view is there
    expect(html).toContain('aria-label="output cosine per layer"')
    expect(html).toContain('<h3>Recommendations</h3>')
  })

  it('says "cache hit" on the second build', () => {
    const html = second.files.get('quantize-report.html')!
    expect(html).toContain('cache hit')
    expect(html).not.toContain('cache miss')
    expect(html).toContain(modelName)
  })

  it('escapes text and needs nothing outside the file', () => {
    const html = first.files.get('quantize-report.html')!
    expect(html).not.toContain(CFG)
    expect(html).toContain('cfgs/r&#38;d &#60;&#34;8bit&#34;&#62;&#39;.cfg')
    expectSelfContained(html)
  })

  it('logs one summary table through Vite\'s logger', () => {
    // (progress lines of a long quantization start with the same prefix)
    const isSummary = (m: string) => /^\[unplugin-quantize\] \d+ models?:/.test(m)
    const summary = first.info.find(isSummary)
    expect(summary).toBeDefined()
    expect(summary).toContain('hello_deepa.onnx')
    expect(summary).toContain(modelName)
    expect(summary).toMatch(/model\s+emitted as\s+size before → after\s+cosine\s+time\s+cache/)
    expect(summary).toContain('cache miss')
    expect(second.info.find(isSummary)).toContain('cache hit')
  })

  it("reports: ['json'] emits no HTML", async () => {
    const outDir = path.join(dir, 'dist-json-only')
    await build({ root: dir, configFile: false, logLevel: 'silent', plugins: [quantizeVite({ cacheDir, defaultConfig: CFG, verify: true, reports: ['json'] })], build: { outDir, emptyOutDir: true } })
    const files = readTextTree(outDir)
    expect(files.has('quantize-report.html')).toBe(false)
    expect([...files.keys()].some((f) => f.endsWith('.quant.json'))).toBe(true)
  })
})

describe('quantize-report.html (webpack, esbuild)', () => {
  it('webpack emits it', async () => {
    const outDir = path.join(dir, 'dist-webpack')
    const compiler = webpack({
      mode: 'production',
      context: dir,
      entry: './main.js',
      output: { path: outDir, filename: 'main.js', assetModuleFilename: 'assets/[name]-[contenthash][ext]' },
      optimization: { minimize: false },
      plugins: [quantizeWebpack({ cacheDir, defaultConfig: CFG, verify: true })],
      infrastructureLogging: { level: 'none' },
      cache: false,
    })
    const stats = await runCompiler(compiler)
    expect(stats.hasErrors()).toBe(false)
    const files = readTextTree(outDir)
    const model = [...files.keys()].find((f) => /^assets\/hello_deepa-.*\.onnx$/.test(f))!
    const html = files.get('quantize-report.html')!
    expect(html).toContain(model)
    expect(html).toContain('cache hit')
    expectSelfContained(html)
    const logging = JSON.stringify(stats.toJson({ all: false, logging: 'info' }).logging ?? {})
    expect(logging).toContain('hello_deepa.onnx')
  })

  it('esbuild writes it into outdir', async () => {
    const outDir = path.join(dir, 'dist-esbuild')
    const files = asText((await esbuildBundle(dir, 'main.js', [quantizeEsbuild({ cacheDir, defaultConfig: CFG, verify: true })], outDir)).files)
    const model = [...files.keys()].find((f) => /^assets\/hello_deepa-.*\.onnx$/.test(f))!
    const html = files.get('quantize-report.html')!
    expect(html).toContain(model)
    expect(html).toContain('cache hit')
    expectSelfContained(html)
  })
})

describe('renderReportHtml', () => {
  const layer = (tensor: string, name: string, relativeError: number) => ({
    nodes: [{ name, opType: 'Conv' }], tensor, dims: [4, 4], elements: 16, bits: 8, axis: 0,
    scale: new Float32Array(), zeroPoint: new Float32Array(), correctionVar: new Float32Array(), correctionMean: new Float32Array(),
    relativeError, clip: 0,
  })
  const report: QuantizeReport = {
    input: 'x', quantType: 'WEIGHT_QUANT', bitNum: 8, config: 'x.cfg', sizeIn: 4000, sizeOut: 1000,
    sizesIn: { raw: 4000, gzip: 3600, brotli: 3500 }, sizesOut: { raw: 1000, gzip: 900, brotli: null },
    durationMs: 1234, nodesQuantized: 2, nodesSkipped: 1, cosineSimilarity: null, verification: null,
    layers: [layer('w_small', 'a', 0.001), layer('w<&">big', `n<script>alert('x')</script>`, 0.02)],
    skipped: [], biasCorrected: 3,
    accuracy: { target: 0.9999, inputs: 'generated', cosineBefore: 0.999, cosineAfter: 0.99995, reached: true, escalatedBits: 16, escalated: ['w<&">big'], widths: { 'w<&">big': 16 }, scored: 3, rankingThreads: 1, rankingSamples: 4, reachedInVerification: null },
    full: null, dynamic: null, mixedBit: null,
    warnings: ['a <warning> & more'],
  }
  const model: ReportModel = {
    source: 'models/a&b.onnx', emitted: 'assets/a&b-123.onnx', config: 'a&b.cfg', kind: 'quantized', report,
    sizeIn: 4000, sizeOut: 1000, status: 'cache miss', message: null,
  }

  it("names the weights mixed bit's guard gave a finer step, with the relative error it gave them", () => {
    const mixed = (tensor: string, refinedTo: number | null) => ({
      tensor, nodes: ['n'], opType: 'Conv', dims: [4, 4], elements: 16, min: -1, max: 1, step: 0.01,
      relativeError: refinedTo ?? 0.02, effectiveBits: 5.8, codeBits: 7, storage: 'int8' as const, fallback: null, refinedTo,
    })
    const withGuard: QuantizeReport = {
      ...report, bitNum: 0, accuracy: null,
      mixedBit: { initScale: 0.02, layers: [mixed('w_plain', null), mixed('w<fine>', 0.005)], fallbacks: 0, meanEffectiveBits: 5.8, autoTune: null, notes: [] },
    }
    const html = renderReportHtml([{ ...model, report: withGuard }])
    expect(html).toContain('finer steps')
    expect(html).toContain('w&#60;fine&#62; (relative error 0.005)')
    expect(html).not.toContain('w_plain (relative error')
  })

  it('says whether the accuracy target held on the inputs it did not tune on, when verification checked it', () => {
    const line = (reachedInVerification: boolean | null) => {
      const html = renderReportHtml([{ ...model, report: { ...model.report!, accuracy: { ...model.report!.accuracy!, reachedInVerification } } }])
      return html.slice(html.indexOf('accuracy target'), html.indexOf('</td>', html.indexOf('accuracy target')))
    }
    expect(line(true)).toContain('0.9999 (reached on generated inputs: cosine 0.999000 → 0.999950; reached in verification)')
    expect(line(false)).toContain('0.9999 (reached on generated inputs: cosine 0.999000 → 0.999950; <strong>missed in verification</strong>)')
    expect(line(null)).toContain('0.9999 (reached on generated inputs: cosine 0.999000 → 0.999950)')
  })

  it('escapes every name and sorts layers by relative error, largest first', () => {
    const html = renderReportHtml([model])
    expect(html).not.toMatch(/<script/i)
    expect(html).not.toContain('a <warning>')
    expect(html).toContain('a &#60;warning&#62; &#38; more')
    expect(html).toContain('w&#60;&#38;&#34;&#62;big')
    expect(html).toContain('models/a&#38;b.onnx')
    expect(html.indexOf('w&#60;&#38;&#34;&#62;big</td>')).toBeLessThan(html.indexOf('w_small</td>'))
    expect(html).toContain('not verified')
    expect(html).toContain('bias corrections')
    expect(html).toContain('escalated weights')
    expect(html).not.toContain('finer steps')
    expect(html).toContain('25.0%')
    expect(html).toContain('1.23 s')
    expectSelfContained(html)
  })

  it('the summary table aligns its columns', () => {
    const lines = summaryTable([model, { ...model, source: 'm.onnx', emitted: 'assets/m-1.onnx', status: 'cache hit' }]).split('\n')
    expect(lines).toHaveLength(4)
    const col = (line: string) => line.indexOf('cache')
    expect(lines[0]!.lastIndexOf('cache')).toBe(col(lines[2]!))
    expect(lines[2]).toContain('3.9 KiB → 1000 B (25.0%)')
  })
})

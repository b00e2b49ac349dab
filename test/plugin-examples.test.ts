// examples/webpack (examples/vite's app built with webpack) and examples/gulp (a gulpfile that
// quantizes a folder of models) build as they are, through the package's own entries (dist/:
// `npm test` builds first). Both use the repository's model cache: examples/webpack shares its
// detector with examples/vite, so after either example test or `npm run demo` it is a cache hit
// (cold, the detector's accuracy search takes a minute or more on 2 busy cores). The webpack
// build is also opened in headless Chromium (as test/browser-example.test.ts does for Vite's).
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import webpack, { type Configuration } from 'webpack'
import { beforeAll, describe, expect, it } from 'vitest'
import { DET_SOURCE, prepareExample } from '../examples/vite/prepare.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { generatedFeeds, inputSpecs } from '../src/runtime/feeds.js'
import { decodeModelProto } from '../src/onnx/codec.js'
import { onnxFiles, readTree, runCompiler } from './helpers/bundler-build.js'
import { launchChromium, skipBrowser } from './helpers/chromium.js'
import { clsSamples, detSamples } from './helpers/model-inputs.js'

const ROOT = path.resolve(import.meta.dirname, '..')
const distBuilt = fs.existsSync(path.join(ROOT, 'dist/plugins/webpack.js')) && fs.existsSync(path.join(ROOT, 'dist/plugins/gulp.js'))

describe.skipIf(!distBuilt)('examples/webpack', () => {
  const outDir = path.join(ROOT, 'test/.tmp/example-webpack-dist')
  let files: Map<string, Buffer>
  let logs: string
  beforeAll(async () => {
    await prepareExample()
    // the config as webpack's CLI would load it (a plain ES module)
    const configUrl = pathToFileURL(path.join(ROOT, 'examples/webpack/webpack.config.js')).href
    const { default: config } = await import(configUrl) as { default: Configuration }
    const compiler = webpack({ ...config, output: { ...config.output, path: outDir }, infrastructureLogging: { level: 'none' } })
    const stats = await runCompiler(compiler)
    const json = stats.toJson({ all: false, errors: true, warnings: true, logging: 'info' })
    expect(json.errors, JSON.stringify(json.errors)).toEqual([])
    expect(json.warnings, JSON.stringify(json.warnings)).toEqual([])
    logs = Object.values(json.logging ?? {}).flatMap((l) => l.entries.map((e) => e.message)).join('\n')
    files = readTree(outDir)
  })

  it('emits the quantized detector under a hashed name with its report, and the page', () => {
    const models = onnxFiles(files)
    const quantized = models.filter((f) => /^assets\/det-[\w]{6,}\.onnx$/.test(f))
    expect(quantized).toHaveLength(1)
    const name = quantized[0]!
    // the fp32 reference the page compares against is emitted byte for byte, without a report
    const float = models.filter((f) => /^assets\/det\.float-[\w]{6,}\.onnx$/.test(f))
    expect(float).toHaveLength(1)
    expect(files.get(float[0]!)!.equals(fs.readFileSync(DET_SOURCE))).toBe(true)
    const report = JSON.parse(files.get(name.replace(/\.onnx$/, '.quant.json'))!.toString('utf8')) as { output: string; input: string; bitNum: number; cosineSimilarity: number; sizeOut: number }
    expect(report).toMatchObject({ output: name, input: 'models/det.onnx', bitNum: 8, sizeOut: files.get(name)!.length })
    expect(report.cosineSimilarity).toBeGreaterThan(0.999)
    expect(files.get(name)!.length).toBeLessThan(fs.statSync(DET_SOURCE).size / 2)
    expect(files.has('quantize-report.html')).toBe(true)
    expect(logs).toMatch(/1 model:[\s\S]*models\/det\.onnx/)
    // the page loads webpack's bundle, which refers to the model and onnxruntime-web's wasm
    expect(files.get('index.html')!.toString('utf8')).toMatch(/<script type="?module"? src="?\.\/main\.js"?/)
    const js = files.get('main.js')!.toString('utf8')
    expect(js).toContain(path.basename(name))
    const wasm = [...files.keys()].filter((f) => f.endsWith('.wasm'))
    expect(wasm).toHaveLength(1)
    expect(js).toContain(path.basename(wasm[0]!))
  })

  it.skipIf(skipBrowser)('the page runs the quantized and the fp32 detector in Chromium, and they agree', async () => {
    const headers = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' }
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.png': 'image/png' }
    const server = http.createServer((req, res) => {
      const file = path.join(outDir, decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/\/$/, '/index.html'))
      if (!file.startsWith(outDir + path.sep) || !fs.existsSync(file)) return void res.writeHead(404, headers).end()
      res.writeHead(200, { ...headers, 'Content-Type': types[path.extname(file)] ?? 'application/octet-stream' }).end(fs.readFileSync(file))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const browser = await launchChromium()
    try {
      const page = await browser.newPage()
      const problems: string[] = []
      page.on('pageerror', (err) => problems.push(err.message))
      page.on('response', (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`) })
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
      await page.waitForFunction(() => {
        const g = globalThis as unknown as { __quantizeResult?: unknown; document: { body: { dataset: { error?: string } } } }
        return g.__quantizeResult !== undefined || g.document.body.dataset.error !== undefined
      }, undefined, { timeout: 60_000 })
      expect(problems).toEqual([])
      const result = await page.evaluate(() => (globalThis as unknown as { __quantizeResult: { cosine: number; quantizedBytes: number; floatBytes: number; modelUrl: string } }).__quantizeResult)
      const name = onnxFiles(files).find((f) => /^assets\/det-[\w]{6,}\.onnx$/.test(f))!
      expect(new URL(result.modelUrl).pathname).toBe(`/${name}`)
      expect(result.quantizedBytes).toBe(files.get(name)!.length)
      expect(result.cosine).toBeGreaterThan(0.99)
    } finally {
      await browser.close()
      server.closeAllConnections()
      server.close()
    }
  })

  it("builds with the README's command, node examples/webpack/webpack.config.js (webpack-cli is not installed)", async () => {
    // before: the config only exported itself, so the command wrote nothing (and `npx webpack`
    // stopped at webpack's prompt to install webpack-cli)
    const dist = path.join(ROOT, 'examples/webpack/dist')
    fs.rmSync(dist, { recursive: true, force: true })
    let output = ''
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, ['examples/webpack/webpack.config.js'], { cwd: ROOT })
      child.stdout.on('data', (d: Buffer) => (output += d.toString()))
      child.stderr.on('data', (d: Buffer) => (output += d.toString()))
      child.on('error', reject)
      child.on('close', resolve)
    })
    expect(code, output).toBe(0)
    expect(output).toMatch(/compiled successfully/)
    const built = readTree(dist)
    expect(built.has('index.html')).toBe(true)
    expect(onnxFiles(built).filter((f) => /^assets\/det-[\w]{6,}\.onnx$/.test(f))).toHaveLength(1)
  })

  it('the emitted detector finds the same text as fp32 in onnxruntime-node', async () => {
    const name = onnxFiles(files).find((f) => /^assets\/det-[\w]{6,}\.onnx$/.test(f))!
    const result = await compareModels(DET_SOURCE, new Uint8Array(files.get(name)!), await detSamples(2, 4300))
    expect(result.cosine).toBeGreaterThan(0.999)
  })
})

describe.skipIf(!distBuilt)('examples/gulp', () => {
  const dir = path.join(ROOT, 'examples/gulp')
  let out: Map<string, Buffer>
  let stdout = ''
  beforeAll(async () => {
    fs.rmSync(path.join(dir, 'dist'), { recursive: true, force: true })
    // the gulp CLI, as a user runs it: `npx gulp --cwd examples/gulp`
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'node_modules/gulp/bin/gulp.js'), '--cwd', dir], { cwd: ROOT })
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
      child.stderr.on('data', (d: Buffer) => (stdout += d.toString()))
      child.on('error', reject)
      child.on('close', resolve)
    })
    expect(code, stdout).toBe(0)
    out = readTree(path.join(dir, 'dist/models'))
  })

  it('quantizes the models with a cfg, copies the other, and writes the reports', () => {
    expect([...out.keys()].sort()).toEqual(['cls.onnx', 'cls.quant.json', 'hello_deepa.onnx', 'hello_deepa.quant.json', 'namaste_deepa.onnx', 'quantize-report.html'])
    expect(out.get('namaste_deepa.onnx')!.equals(fs.readFileSync(path.join(dir, 'models/namaste_deepa.onnx')))).toBe(true)
    for (const name of ['cls', 'hello_deepa']) {
      const report = JSON.parse(out.get(`${name}.quant.json`)!.toString('utf8')) as { quantType: string; bitNum: number; sizeOut: number; cosineSimilarity: number }
      expect(report).toMatchObject({ quantType: 'WEIGHT_QUANT', bitNum: 8, sizeOut: out.get(`${name}.onnx`)!.length })
      expect(report.cosineSimilarity).toBeGreaterThan(0.999)
      expect(out.get(`${name}.onnx`)!.length).toBeLessThan(fs.statSync(path.join(dir, `models/${name}.onnx`)).size * 0.6)
    }
    expect(stdout).toMatch(/3 models:[\s\S]*models\/cls\.onnx/)
  })

  it('the quantized models run close to the float ones in onnxruntime-node', async () => {
    const cls = await compareModels(path.join(dir, 'models/cls.onnx'), new Uint8Array(out.get('cls.onnx')!), await clsSamples(4))
    expect(cls.cosine).toBeGreaterThan(0.999)
    const wake = path.join(dir, 'models/hello_deepa.onnx')
    const specs = inputSpecs(decodeModelProto(fs.readFileSync(wake)))
    const result = await compareModels(wake, new Uint8Array(out.get('hello_deepa.onnx')!), [1, 2, 3].map((seed) => generatedFeeds(specs, seed)))
    expect(result.cosine).toBeGreaterThan(0.999)
  })
})

import fs from 'node:fs'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { createServer } from 'vite'
import webpack, { type Compiler } from 'webpack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import quantizeVite, { type QuantizePluginApi } from '../plugins/vite.js'
import quantizeWebpack from '../plugins/webpack.js'
import quantizeRspack from '../plugins/rspack.js'
import { rspack } from '@rspack/core'
import quantizeEsbuild from '../plugins/esbuild.js'
import quantizeGulp from '../plugins/gulp.js'
import { OUTPUT_SUMMARY_HEADER, QUANT_PARAM_HEADER, REPORT_HEADER } from '../src/report/debug-csv/debug-csv-files.js'
import { FLOAT, OTHER, cacheBlobs, compileOrThrow, esbuildBundle, expectCloseToFloat, makeFixtureApp, readTree, viteProductionBuild, type Built } from './helpers/bundler-build.js'
import Vinyl from 'vinyl'

// Models outside the module graph (Vite's public folder, webpack assets other plugins add) are
// quantized in place, and a cfg's debug_info_save_path puts the debug CSVs into the bundle.

/** A WEIGHT_QUANT cfg whose debug CSVs the engine also writes to `debugDir`. */
function writeDebugCfg(file: string, bits: number, debugDir: string): void {
  fs.writeFileSync(file, `[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=${bits}\ndebug_info_save_path=${debugDir}\n`)
}

/** The three kinds of debug CSV under `<folder>/`, each starting with the format's header. */
function expectDebugCsvs(files: Map<string, Buffer>, folder: string): void {
  const text = (name: string) => files.get(`${folder}/${name}`)?.toString('utf8')
  const firstLine = (name: string) => text(name)?.split('\r\n')[0]
  expect(firstLine('output_summary.csv')).toBe(OUTPUT_SUMMARY_HEADER.join(','))
  expect(firstLine('report_0.csv')).toBe(REPORT_HEADER.join(','))
  expect(firstLine('quant_param.csv')).toBe(QUANT_PARAM_HEADER.join(','))
  // real rows, not just headers: a cosine per model output and a row per quantized weight
  expect(text('output_summary.csv')!.trim().split('\r\n').length).toBeGreaterThan(1)
  expect(text('quant_param.csv')!.trim().split('\r\n').length).toBeGreaterThan(1)
}

/** The quantized model is smaller, different from the float one and one of the cache's entries. */
function expectQuantized(bytes: Buffer | undefined, cacheDir: string): void {
  expect(bytes).toBeDefined()
  const float = fs.readFileSync(FLOAT)
  expect(bytes!.equals(float)).toBe(false)
  expect(bytes!.length).toBeLessThan(float.length / 2)
  expect(cacheBlobs(cacheDir, 'model.onnx').some((b) => b.equals(bytes!))).toBe(true)
}

describe('vite: public folder and debug CSVs', () => {
  let dir: string
  let cacheDir: string
  let first: Built

  const viteBuild = async (): Promise<Built> => {
    const plugin = quantizeVite({ cacheDir, verify: false })
    const { files, warnings } = await viteProductionBuild(dir, [plugin], path.join(dir, 'dist'))
    return { files, stats: (plugin.api as QuantizePluginApi).stats(), warnings }
  }

  beforeAll(async () => {
    ({ dir, cacheDir } = makeFixtureApp('vite-app'))
    writeDebugCfg(path.join(dir, 'hello_deepa.onnx.cfg'), 8, path.join(dir, 'debug-import'))
    const models = path.join(dir, 'public/models')
    fs.mkdirSync(models, { recursive: true })
    fs.copyFileSync(FLOAT, path.join(models, 'hello_deepa.onnx'))
    writeDebugCfg(path.join(models, 'hello_deepa.onnx.cfg'), 6, path.join(dir, 'debug-public'))
    // no cfg: Vite's copy stays as it is
    fs.copyFileSync(OTHER, path.join(models, 'plain.onnx'))
    first = await viteBuild()
  })

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('replaces the public model at its own (unhashed) path with the quantized bytes', async () => {
    // the imported model and the public one (another cfg, so another cache entry)
    expect(first.stats).toMatchObject({ quantized: 2, reused: 0 })
    // emitting an asset at the copied file's path is not a conflict Vite warns about
    expect(first.warnings).toEqual([])
    const bytes = first.files.get('models/hello_deepa.onnx')
    expectQuantized(bytes, cacheDir)
    await expectCloseToFloat(FLOAT, bytes!)
  })

  it('writes the public model\'s .quant.json beside it and leaves no cfg in the bundle', () => {
    const report = JSON.parse(first.files.get('models/hello_deepa.quant.json')!.toString('utf8')) as Record<string, unknown>
    expect(report).toMatchObject({ bitNum: 6, output: 'models/hello_deepa.onnx', input: 'public/models/hello_deepa.onnx', config: 'public/models/hello_deepa.onnx.cfg' })
    expect(report.sizeOut).toBe(first.files.get('models/hello_deepa.onnx')!.length)
    expect([...first.files.keys()].filter((f) => f.endsWith('.cfg'))).toEqual([])
  })

  it('leaves public models without a cfg byte-identical', () => {
    expect(first.files.get('models/plain.onnx')!.equals(fs.readFileSync(OTHER))).toBe(true)
    expect(first.files.has('models/plain.quant.json')).toBe(false)
  })

  it('lists the public model in quantize-report.html', () => {
    const html = first.files.get('quantize-report.html')!.toString('utf8')
    expect(html).toContain('public/models/hello_deepa.onnx')
    expect(html).toContain('hello_deepa.onnx.cfg')
  })

  it('emits the debug CSVs beside the imported and the public model', () => {
    const imported = [...first.files.keys()].find((f) => /^assets\/hello_deepa-[\w-]+\.onnx$/.test(f))!
    expectDebugCsvs(first.files, imported.replace(/\.onnx$/, '.debug'))
    expectDebugCsvs(first.files, 'models/hello_deepa.debug')
  })

  it('a second build is a cache hit for both and still emits the model, report and CSVs', async () => {
    const second = await viteBuild()
    expect(second.stats).toMatchObject({ quantized: 0, reused: 2 })
    expect(second.files.get('models/hello_deepa.onnx')!.equals(first.files.get('models/hello_deepa.onnx')!)).toBe(true)
    expect(second.files.has('models/hello_deepa.quant.json')).toBe(true)
    expectDebugCsvs(second.files, 'models/hello_deepa.debug')
    for (const [name, bytes] of first.files) if (name.endsWith('.csv')) expect(second.files.get(name)?.equals(bytes), name).toBe(true)
  })

  it('vite dev serves the quantized public model from the cache, the same bytes on every request', async () => {
    const plugin = quantizeVite({ cacheDir, verify: false })
    const server = await createServer({ root: dir, configFile: false, logLevel: 'silent', plugins: [plugin], server: { port: 0, host: '127.0.0.1' } })
    try {
      await server.listen()
      const origin = `http://127.0.0.1:${(server.httpServer!.address() as AddressInfo).port}`
      const get = async (url: string) => Buffer.from(await (await fetch(origin + url)).arrayBuffer())
      const a = await get('/models/hello_deepa.onnx')
      const b = await get('/models/hello_deepa.onnx')
      expect(a.equals(first.files.get('models/hello_deepa.onnx')!)).toBe(true)
      expect(b.equals(a)).toBe(true)
      // built already: served from the cache, computed once for both requests
      expect((plugin.api as QuantizePluginApi).stats()).toMatchObject({ quantized: 0, reused: 1 })
      // no cfg: Vite's own static handler serves the file
      expect((await get('/models/plain.onnx')).equals(fs.readFileSync(OTHER))).toBe(true)
      // the same file spelt with an escape is the same model, not the float file
      expect((await get('/models/hello_deepa%2eonnx')).equals(a)).toBe(true)
      // a client holding these bytes gets 304 without them
      const res = await fetch(`${origin}/models/hello_deepa.onnx`)
      const etag = res.headers.get('etag')!
      expect(etag).toMatch(/^"[0-9a-f]{16}"$/)
      const again = await fetch(`${origin}/models/hello_deepa.onnx`, { headers: { 'if-none-match': etag } })
      expect(again.status).toBe(304)
      expect((await again.arrayBuffer()).byteLength).toBe(0)
    } finally {
      await server.close()
    }
  })
})

/** Emits the files of `static/` at ADDITIONAL with their sourceFilename, as copy-webpack-plugin does. */
class CopyModelPlugin {
  apply(compiler: Compiler): void {
    const { Compilation, sources } = compiler.webpack
    compiler.hooks.thisCompilation.tap('copy-model', (compilation) => {
      compilation.hooks.processAssets.tap({ name: 'copy-model', stage: Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL }, () => {
        for (const name of fs.readdirSync(path.join(compiler.context, 'static'))) {
          const source = `static/${name}`
          compilation.emitAsset(source, new sources.RawSource(fs.readFileSync(path.join(compiler.context, source))), { sourceFilename: source, copied: true })
        }
      })
    })
  }
}

describe('webpack: assets other plugins emit, and debug CSVs', () => {
  let dir: string
  let cacheDir: string
  let first: Built

  const webpackBuild = async (): Promise<Built> => {
    const plugin = quantizeWebpack({ cacheDir, verify: false })
    const outDir = path.join(dir, 'dist')
    fs.rmSync(outDir, { recursive: true, force: true })
    const compiler = webpack({
      mode: 'production',
      context: dir,
      entry: './main.js',
      output: { path: outDir, filename: 'main.js', assetModuleFilename: 'assets/[name]-[contenthash][ext]' },
      optimization: { minimize: false },
      plugins: [new CopyModelPlugin(), plugin],
      infrastructureLogging: { level: 'none' },
      cache: false,
    })
    await compileOrThrow(compiler)
    return { files: readTree(outDir), stats: plugin.api.stats(), warnings: [] }
  }

  beforeAll(async () => {
    ({ dir, cacheDir } = makeFixtureApp('webpack-app'))
    writeDebugCfg(path.join(dir, 'hello_deepa.onnx.cfg'), 8, path.join(dir, 'debug-import'))
    fs.mkdirSync(path.join(dir, 'static'))
    fs.copyFileSync(FLOAT, path.join(dir, 'static/hello_deepa.onnx'))
    writeDebugCfg(path.join(dir, 'static/hello_deepa.onnx.cfg'), 6, path.join(dir, 'debug-static'))
    first = await webpackBuild()
  })

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('replaces the copied model under its own name with the quantized bytes, with its report', async () => {
    expect(first.stats).toMatchObject({ quantized: 2, reused: 0 })
    const bytes = first.files.get('static/hello_deepa.onnx')
    expectQuantized(bytes, cacheDir)
    await expectCloseToFloat(FLOAT, bytes!)
    const report = JSON.parse(first.files.get('static/hello_deepa.quant.json')!.toString('utf8')) as Record<string, unknown>
    expect(report).toMatchObject({ bitNum: 6, output: 'static/hello_deepa.onnx', input: 'static/hello_deepa.onnx' })
    expect(first.files.get('quantize-report.html')!.toString('utf8')).toContain('static/hello_deepa.onnx')
    // the copied cfg is a build input, not part of the app
    expect(first.files.has('static/hello_deepa.onnx.cfg')).toBe(false)
  })

  it('emits the debug CSVs beside the asset module and the copied model', () => {
    const imported = [...first.files.keys()].find((f) => /^assets\/hello_deepa-[\w-]+\.onnx$/.test(f))!
    expectDebugCsvs(first.files, imported.replace(/\.onnx$/, '.debug'))
    expectDebugCsvs(first.files, 'static/hello_deepa.debug')
  })

  it('a second build is a cache hit and emits the same files', async () => {
    const second = await webpackBuild()
    expect(second.stats).toMatchObject({ quantized: 0, reused: 2 })
    for (const [name, bytes] of first.files) {
      if (name.endsWith('.onnx') || name.endsWith('.csv')) expect(second.files.get(name)?.equals(bytes), name).toBe(true)
    }
  })
})

describe('rspack: CopyRspackPlugin statics', () => {
  let dir: string
  let cacheDir: string

  const rspackBuild = async (): Promise<Built> => {
    const plugin = quantizeRspack({ cacheDir, verify: false })
    const outDir = path.join(dir, 'dist')
    fs.rmSync(outDir, { recursive: true, force: true })
    const compiler = rspack({
      mode: 'production',
      context: dir,
      entry: './main.js',
      output: { path: outDir, filename: 'main.js', assetModuleFilename: 'assets/[name]-[contenthash][ext]' },
      optimization: { minimize: false },
      plugins: [new rspack.CopyRspackPlugin({ patterns: [{ from: 'static', to: 'static' }] }), plugin],
      infrastructureLogging: { level: 'none' },
    })
    await compileOrThrow(compiler)
    return { files: readTree(outDir), stats: plugin.api.stats(), warnings: [] }
  }

  beforeAll(() => {
    ({ dir, cacheDir } = makeFixtureApp('rspack-app'))
    fs.mkdirSync(path.join(dir, 'static'))
    fs.copyFileSync(FLOAT, path.join(dir, 'static/hello_deepa.onnx'))
    writeDebugCfg(path.join(dir, 'static/hello_deepa.onnx.cfg'), 6, path.join(dir, 'debug-static'))
  })

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('replaces the copy with the quantized model under its own name, with report and CSVs; a rebuild is a cache hit', async () => {
    const first = await rspackBuild()
    // the imported model (its own cfg) and the copy
    expect(first.stats).toMatchObject({ quantized: 2, reused: 0 })
    const bytes = first.files.get('static/hello_deepa.onnx')
    expectQuantized(bytes, cacheDir)
    await expectCloseToFloat(FLOAT, bytes!)
    expect(JSON.parse(first.files.get('static/hello_deepa.quant.json')!.toString('utf8'))).toMatchObject({ bitNum: 6, output: 'static/hello_deepa.onnx' })
    expect(first.files.get('quantize-report.html')!.toString('utf8')).toContain('static/hello_deepa.onnx')
    expect(first.files.has('static/hello_deepa.onnx.cfg')).toBe(false)
    expectDebugCsvs(first.files, 'static/hello_deepa.debug')
    const second = await rspackBuild()
    expect(second.stats).toMatchObject({ quantized: 0, reused: 2 })
    expect(second.files.get('static/hello_deepa.onnx')!.equals(bytes!)).toBe(true)
    expectDebugCsvs(second.files, 'static/hello_deepa.debug')
  })
})

describe('esbuild and gulp: debug CSVs', () => {
  let dir: string
  let cacheDir: string

  beforeAll(() => {
    ({ dir, cacheDir } = makeFixtureApp('esbuild-app'))
    writeDebugCfg(path.join(dir, 'hello_deepa.onnx.cfg'), 8, path.join(dir, 'debug-out'))
  })

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('esbuild writes them beside the emitted model, on a cache hit too', async () => {
    const outdir = path.join(dir, 'dist')
    for (const expected of [{ quantized: 1, reused: 0 }, { quantized: 0, reused: 1 }]) {
      const plugin = quantizeEsbuild({ cacheDir, verify: false })
      const { files } = await esbuildBundle(dir, 'main.js', [plugin], outdir)
      expect(plugin.api.stats()).toMatchObject(expected)
      const model = [...files.keys()].find((f) => /^assets\/hello_deepa-\w+\.onnx$/.test(f))!
      expectDebugCsvs(files, model.replace(/\.onnx$/, '.debug'))
    }
  })

  it('gulp adds them to the stream beside the model, on a cache hit too', async () => {
    // the same model and cfg as the esbuild build: gulp keeps entries of its own
    for (const expected of [{ quantized: 1, reused: 0 }, { quantized: 0, reused: 1 }]) {
      const stream = quantizeGulp({ cacheDir, verify: false })
      const out: Vinyl[] = []
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (f: Vinyl) => out.push(f))
        stream.on('error', reject)
        stream.on('end', () => resolve())
        stream.end(new Vinyl({ cwd: dir, base: dir, path: path.join(dir, 'hello_deepa.onnx'), contents: fs.readFileSync(path.join(dir, 'hello_deepa.onnx')) }))
      })
      expect(stream.api.stats()).toMatchObject(expected)
      const files = new Map(out.map((f) => [f.relative.split(path.sep).join('/'), f.contents as Buffer]))
      expectQuantized(files.get('hello_deepa.onnx'), cacheDir)
      expectDebugCsvs(files, 'hello_deepa.debug')
    }
  })
})

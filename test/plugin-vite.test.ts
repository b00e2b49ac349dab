import fs from 'node:fs'
import path from 'node:path'
import { build, createLogger, type Logger } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import quantize, { type Options, type QuantizePluginApi } from '../plugins/vite.js'
import { FLOAT, OTHER, makeFixtureApp, writeWeightCfg, type Built, expectCloseToFloat, expectQuantizedAsset, jsText as jsTextOf, onnxFiles as onnxFilesOf, readTree, viteProductionBuild } from './helpers/bundler-build.js'

let dir: string
let cacheDir: string
let cfgFile: string

beforeAll(() => {
  ({ dir, cacheDir, cfgFile } = makeFixtureApp('vite-app'))
})

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

const writeCfg = (bits: number | string): void => writeWeightCfg(cfgFile, bits)

/** One production build of the fixture with a fresh plugin (as a new `vite build` process would). */
async function viteBuild(options: Options = {}): Promise<Built> {
  const plugin = quantize({ cacheDir, verify: false, ...options })
  const { files, warnings } = await viteProductionBuild(dir, [plugin], path.join(dir, 'dist'))
  return { files, stats: (plugin.api as QuantizePluginApi).stats(), warnings }
}

const onnxFiles = (b: Built) => onnxFilesOf(b.files)
const jsText = (b: Built) => jsTextOf(b.files)
const floatBytes = () => fs.readFileSync(FLOAT)

describe('vite plugin', () => {
  let first: Built
  let quantName: string

  beforeAll(async () => {
    first = await viteBuild()
    const float = floatBytes()
    const other = fs.readFileSync(OTHER)
    quantName = onnxFiles(first).find((f) => !first.files.get(f)!.equals(float) && !first.files.get(f)!.equals(other))!
  })

  it('emits the quantized model under a content-hashed .onnx name, bytes from the cache', () => {
    expect(first.stats.quantized).toBe(1)
    expectQuantizedAsset(first.files, quantName, FLOAT, cacheDir)
  })

  it('the emitted model runs in onnxruntime-node close to the float model', async () => {
    await expectCloseToFloat(FLOAT, first.files.get(quantName)!)
  })

  it('the built JS refers to the hashed file, for all three reference forms, once', () => {
    const js = jsText(first)
    expect(js).toContain(path.basename(quantName))
    expect(js).toMatch(/new URL\(\w+, import\.meta\.url\)/)
    // `./m.onnx`, `./m.onnx?url` and `new URL('./m.onnx', import.meta.url)` are one module, so
    // one asset: Vite's own new-URL handling would have added the float file
    expect(onnxFiles(first).filter((f) => f.startsWith('assets/hello_deepa-'))).toEqual([quantName])
  })

  it('`threads` changes how the ranking runs, not the model: a build with threads 1 reuses the cache entry', async () => {
    const again = await viteBuild({ threads: 1 })
    expect(again.stats).toMatchObject({ quantized: 0, reused: 1 })
    expect(again.files.get(quantName)!.equals(first.files.get(quantName)!)).toBe(true)
  })

  it('emits <name>.quant.json beside the model', () => {
    const reportName = quantName.replace(/\.onnx$/, '.quant.json')
    const report = JSON.parse(first.files.get(reportName)!.toString('utf8')) as Record<string, unknown>
    expect(report).toMatchObject({ quantType: 'WEIGHT_QUANT', bitNum: 8, output: quantName, input: 'hello_deepa.onnx', config: 'hello_deepa.onnx.cfg' })
    expect(report.sizeOut).toBe(first.files.get(quantName)!.length)
  })

  it('passes a model with no cfg and no defaultConfig through byte-identical', () => {
    const other = fs.readFileSync(OTHER)
    const emitted = onnxFiles(first).filter((f) => f.startsWith('assets/other-'))
    expect(emitted).toHaveLength(1)
    expect(first.files.get(emitted[0]!)!.equals(other)).toBe(true)
    expect(first.files.has(emitted[0]!.replace(/\.onnx$/, '.quant.json'))).toBe(false)
    expect(first.stats.passedThrough).toBe(1)
    expect(jsText(first)).toContain(path.basename(emitted[0]!))
  })

  it('a second build quantizes nothing and emits the same files', async () => {
    const second = await viteBuild()
    expect(second.stats).toMatchObject({ quantized: 0, reused: 1 })
    expect(second.files.get(quantName)?.equals(first.files.get(quantName)!)).toBe(true)
  })

  it('editing the cfg quantizes exactly once more', async () => {
    writeCfg(6)
    try {
      const edited = await viteBuild()
      expect(edited.stats.quantized).toBe(1)
      const names = onnxFiles(edited).filter((f) => f.startsWith('assets/hello_deepa-'))
      expect(names).toHaveLength(1)
      expect(names[0]).not.toBe(quantName)
      const report = JSON.parse(edited.files.get(names[0]!.replace(/\.onnx$/, '.quant.json'))!.toString('utf8')) as { bitNum: number }
      expect(report.bitNum).toBe(6)
      expect((await viteBuild()).stats.quantized).toBe(0)
    } finally {
      writeCfg(8)
    }
  })

  it('a broken cfg fails the build naming the cfg file; with onError warn it emits the original', async () => {
    writeCfg(99)
    try {
      await expect(viteBuild()).rejects.toThrow(/hello_deepa\.onnx.*hello_deepa\.onnx\.cfg.*bit_num/s)
      const warned = await viteBuild({ onError: 'warn' })
      expect(warned.stats.failed).toBe(1)
      const names = onnxFiles(warned).filter((f) => f.startsWith('assets/hello_deepa-'))
      expect(names).toHaveLength(1)
      expect(warned.files.get(names[0]!)!.equals(floatBytes())).toBe(true)
      expect(warned.warnings.join('\n')).toMatch(/hello_deepa\.onnx\.cfg/)
    } finally {
      writeCfg(8)
    }
  })

  it('a cfg warning is in the build log and in the .quant.json and HTML report, with the path relative to the root', async () => {
    fs.appendFileSync(cfgFile, 'bitnum=4\n')
    try {
      const warned = await viteBuild()
      const typo = "hello_deepa.onnx.cfg:4: unknown key 'bitnum' in [common_quant_param]"
      expect(warned.warnings.join('\n')).toContain(typo)
      const report = warned.files.get(quantName.replace(/\.onnx$/, '.quant.json'))!.toString('utf8')
      const html = warned.files.get('quantize-report.html')!.toString('utf8')
      expect(report).toContain(typo)
      // the page escapes the quotes
      expect(html).toContain('hello_deepa.onnx.cfg:4: unknown key')
      for (const text of [report, html]) expect(text).not.toContain(dir)
    } finally {
      writeCfg(8)
    }
  })

  it('defaultConfig quantizes models that have no sibling cfg', async () => {
    const built = await viteBuild({ defaultConfig: { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } } })
    // hello_deepa keeps its own cfg (cached); other.onnx is new work
    expect(built.stats).toMatchObject({ quantized: 1, reused: 1, passedThrough: 0 })
    const other = onnxFiles(built).filter((f) => f.startsWith('assets/other-'))
    expect(other).toHaveLength(1)
    expect(built.files.get(other[0]!)!.length).toBeLessThan(fs.statSync(OTHER).size / 2)
    const report = JSON.parse(built.files.get(other[0]!.replace(/\.onnx$/, '.quant.json'))!.toString('utf8')) as { config: string }
    expect(report.config).toBe('defaultConfig')
  })

  it('with the plugin in worker.plugins too, quantize-report.html lists the main and the worker models', async () => {
    // before: each build wrote quantize-report.html and the worker's, copied in last, replaced the main one
    fs.writeFileSync(path.join(dir, 'with-worker.html'), '<!doctype html>\n<script type="module" src="./with-worker.js"></script>\n')
    fs.writeFileSync(path.join(dir, 'with-worker.js'), "export const model = new URL('./hello_deepa.onnx', import.meta.url).href\nexport const worker = new Worker(new URL('./model-worker.js', import.meta.url), { type: 'module' })\n")
    fs.writeFileSync(path.join(dir, 'model-worker.js'), "postMessage(new URL('./other.onnx', import.meta.url).href)\n")
    const options: Options = { cacheDir, verify: false }
    const infos: string[] = []
    const logger: Logger = { ...createLogger('silent'), info: (msg) => void infos.push(msg) }
    const outDir = path.join(dir, 'dist-worker')
    await build({
      root: dir, configFile: false, logLevel: 'info', customLogger: logger, plugins: [quantize(options)],
      worker: { format: 'es', plugins: () => [quantize(options)] },
      build: { outDir, emptyOutDir: true, minify: false, rollupOptions: { input: path.join(dir, 'with-worker.html') } },
    })
    const files = readTree(outDir)
    const html = files.get('quantize-report.html')!.toString('utf8')
    const main = onnxFilesOf(files).find((f) => f.startsWith('assets/hello_deepa-'))!
    const worker = onnxFilesOf(files).find((f) => f.startsWith('assets/other-'))!
    expect(html).toContain(main)
    expect(html).toContain(worker)
    // one summary, with both
    const summaries = infos.filter((m) => m.includes('[unplugin-quantize]') && m.includes(' models:'))
    expect(summaries).toHaveLength(1)
    expect(summaries[0]).toContain(main)
    expect(summaries[0]).toContain(worker)
  })

  it('models excluded by the filter are left to Vite as plain assets', async () => {
    const built = await viteBuild({ exclude: ['hello_deepa.onnx'] })
    expect(built.stats).toMatchObject({ quantized: 0, reused: 0 })
    const names = onnxFiles(built).filter((f) => f.startsWith('assets/hello_deepa-'))
    expect(names.length).toBeGreaterThan(0)
    for (const n of names) expect(built.files.get(n)!.equals(floatBytes())).toBe(true)
  })
})

describe('options', () => {
  it.each<[Record<string, unknown>, RegExp]>([
    [{ onError: 'x' }, /option 'onError' must be 'error' or 'warn' \(got 'x'\)/],
    [{ concurrency: 0 }, /option 'concurrency' must be an integer >= 1 \(got 0\)/],
    [{ threads: 1.5 }, /option 'threads' must be an integer >= 1 \(got 1.5\)/],
    [{ cache: 'no' }, /option 'cache' must be true or false/],
    [{ reports: ['csv'] }, /option 'reports' must be false or an array of 'json'/],
    [{ include: 5 }, /option 'include' must be a glob string, a RegExp or an array of them/],
    [{ defaultConfig: 3 }, /option 'defaultConfig' must be a cfg file path or a cfg object/],
    [{ verify: 'yes' }, /option 'verify' must be true or false/],
    [{ cacheDirectory: 'x' }, /unknown option 'cacheDirectory'; allowed: include, exclude/],
  ])('%j throws at creation', (options, message) => {
    expect(() => quantize(options as Options)).toThrow(message)
  })

  it('accepts no options', () => {
    expect(quantize().name).toBe('unplugin-quantize')
  })
})

import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { rspack } from '@rspack/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import quantize, { type Options } from '../plugins/rspack.js'
import { FLOAT, OTHER, makeFixtureApp, writeWeightCfg, type Built, expectCloseToFloat, expectQuantizedAsset, jsText as jsTextOf, onnxFiles as onnxFilesOf, readTree, compileOrThrow } from './helpers/bundler-build.js'

let dir: string
let cacheDir: string
let cfgFile: string

beforeAll(() => {
  ({ dir, cacheDir, cfgFile } = makeFixtureApp('rspack-app'))
})

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

/** One production build of the fixture with a fresh plugin (as a new `rspack` process would). */
async function rspackBuild(options: Options = {}, make: typeof quantize = quantize, assetModuleFilename = 'assets/[name]-[contenthash][ext]'): Promise<Built & { logs: string[] }> {
  const plugin = make({ cacheDir, verify: false, ...options })
  const outDir = path.join(dir, 'dist')
  fs.rmSync(outDir, { recursive: true, force: true })
  const compiler = rspack({
    mode: 'production',
    context: dir,
    entry: './main.js',
    output: { path: outDir, filename: 'main.js', assetModuleFilename },
    optimization: { minimize: false },
    plugins: [plugin],
    infrastructureLogging: { level: 'none' },
  })
  const stats = await compileOrThrow(compiler)
  const json = stats.toJson({ all: false, warnings: true, logging: 'info' })
  const logs = Object.values(json.logging ?? {}).flatMap((l) => l.entries.map((e) => e.message))
  return { files: readTree(outDir), stats: plugin.api.stats(), warnings: json.warnings!.map((w) => w.message), logs }
}

describe('rspack plugin', () => {
  let first: Built & { logs: string[] }
  let quantName: string

  beforeAll(async () => {
    first = await rspackBuild()
    const float = fs.readFileSync(FLOAT)
    const other = fs.readFileSync(OTHER)
    quantName = onnxFilesOf(first.files).find((f) => !first.files.get(f)!.equals(float) && !first.files.get(f)!.equals(other))!
  })

  it('emits the quantized model under a content-hashed .onnx name, bytes from the cache', () => {
    expect(first.stats).toMatchObject({ quantized: 1, onWorkerThread: 1 })
    expectQuantizedAsset(first.files, quantName, FLOAT, cacheDir)
  })

  it('the emitted model runs in onnxruntime-node close to the float model', async () => {
    await expectCloseToFloat(FLOAT, first.files.get(quantName)!)
  })

  it('the bundle refers to the hashed file; import and new URL share one asset', () => {
    expect(jsTextOf(first.files)).toContain(quantName)
    expect(onnxFilesOf(first.files).filter((f) => f.startsWith('assets/hello_deepa-'))).toEqual([quantName])
  })

  it('emits <name>.quant.json beside the model, quantize-report.html and a summary in the log', () => {
    const report = JSON.parse(first.files.get(quantName.replace(/\.onnx$/, '.quant.json'))!.toString('utf8')) as Record<string, unknown>
    expect(report).toMatchObject({ quantType: 'WEIGHT_QUANT', bitNum: 8, output: quantName, input: 'hello_deepa.onnx', config: 'hello_deepa.onnx.cfg' })
    expect(report.sizeOut).toBe(first.files.get(quantName)!.length)
    const html = first.files.get('quantize-report.html')!.toString('utf8')
    expect(html).toContain(quantName)
    expect(html).toContain('other.onnx')
    expect(first.logs.join('\n')).toMatch(/2 models:[\s\S]*hello_deepa\.onnx/)
  })

  it('passes a model with no cfg through byte-identical', () => {
    const emitted = onnxFilesOf(first.files).filter((f) => f.startsWith('assets/other-'))
    expect(emitted).toHaveLength(1)
    expect(first.files.get(emitted[0]!)!.equals(fs.readFileSync(OTHER))).toBe(true)
    expect(first.files.has(emitted[0]!.replace(/\.onnx$/, '.quant.json'))).toBe(false)
    expect(first.stats.passedThrough).toBe(1)
  })

  it('a second build quantizes nothing and emits the same files', async () => {
    const second = await rspackBuild()
    expect(second.stats).toMatchObject({ quantized: 0, reused: 1 })
    expect(second.files.get(quantName)?.equals(first.files.get(quantName)!)).toBe(true)
    expect(second.files.get(quantName.replace(/\.onnx$/, '.quant.json'))?.equals(first.files.get(quantName.replace(/\.onnx$/, '.quant.json'))!)).toBe(true)
  })

  it('a broken cfg fails the build naming the cfg file; with onError warn it emits the original', async () => {
    writeWeightCfg(cfgFile, 99)
    try {
      await expect(rspackBuild()).rejects.toThrow(/hello_deepa\.onnx.*hello_deepa\.onnx\.cfg.*bit_num/s)
      const warned = await rspackBuild({ onError: 'warn' })
      expect(warned.stats.failed).toBe(1)
      const names = onnxFilesOf(warned.files).filter((f) => f.startsWith('assets/hello_deepa-'))
      expect(names).toHaveLength(1)
      expect(warned.files.get(names[0]!)!.equals(fs.readFileSync(FLOAT))).toBe(true)
      expect(warned.warnings.join('\n')).toMatch(/hello_deepa\.onnx\.cfg/)
    } finally {
      writeWeightCfg(cfgFile, 8)
    }
  })
})

describe('rspack plugin, models whose outputs are identical', () => {
  it('share one asset when the file name is the content hash alone, and the report lists every model', async () => {
    // twin.onnx: the same bytes and cfg as hello_deepa.onnx, so the same quantized bytes
    fs.copyFileSync(path.join(dir, 'hello_deepa.onnx'), path.join(dir, 'twin.onnx'))
    fs.copyFileSync(cfgFile, path.join(dir, 'twin.onnx.cfg'))
    const main = path.join(dir, 'main.js')
    const original = fs.readFileSync(main, 'utf8')
    fs.writeFileSync(main, `${original}import twin from './twin.onnx'\ndocument.body.dataset.twin = twin\n`)
    try {
      const built = await rspackBuild({}, quantize, 'assets/[contenthash][ext]')
      const quantized = onnxFilesOf(built.files).filter((f) => !built.files.get(f)!.equals(fs.readFileSync(OTHER)))
      expect(quantized).toHaveLength(1)
      const html = built.files.get('quantize-report.html')!.toString('utf8')
      for (const model of ['hello_deepa.onnx', 'twin.onnx', 'other.onnx']) expect(html, model).toContain(model)
      expect(built.logs.join('\n')).toMatch(/3 models:/)
    } finally {
      fs.writeFileSync(main, original)
      for (const f of ['twin.onnx', 'twin.onnx.cfg']) fs.rmSync(path.join(dir, f))
    }
  })
})

describe('rspack entry', () => {
  // `npm test` builds dist first; a bare vitest run before any build skips this
  const dist = path.resolve(import.meta.dirname, '../dist/plugins/rspack.js')
  it.skipIf(!fs.existsSync(dist))('is require()-able from CommonJS and builds with its own loader (built dist)', async () => {
    const mod = createRequire(import.meta.url)(dist) as { default: typeof quantize; quantize: typeof quantize }
    expect(typeof mod.quantize).toBe('function')
    expect(mod.default).toBe(mod.quantize)
    const built = await rspackBuild({}, mod.quantize)
    // the cache key digests the engine's code, which differs between dist/ and the sources
    expect(built.stats.quantized + built.stats.reused).toBe(1)
    expect(built.stats.failed).toBe(0)
    expect(onnxFilesOf(built.files).filter((f) => f.startsWith('assets/hello_deepa-'))).toHaveLength(1)
  })
})

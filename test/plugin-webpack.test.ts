import fs from 'node:fs'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import webpack, { type RuleSetRule } from 'webpack'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import quantize, { type Options } from '../plugins/webpack.js'
import { FLOAT, OTHER, makeFixtureApp, writeWeightCfg, type Built, expectCloseToFloat, expectQuantizedAsset, jsText as jsTextOf, onnxFiles as onnxFilesOf, readTree, compileOrThrow } from './helpers/bundler-build.js'

const here = path.dirname(fileURLToPath(import.meta.url))

let dir: string
let cacheDir: string
let cfgFile: string

beforeAll(() => {
  ({ dir, cacheDir, cfgFile } = makeFixtureApp('webpack-app'))
})

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

const writeCfg = (bits: number | string): void => writeWeightCfg(cfgFile, bits)

/** One production build of the fixture with a fresh plugin (as a new `webpack` process would). */
async function webpackBuild(options: Options = {}, persistentCache = false, rules: RuleSetRule[] = []): Promise<Built> {
  const plugin = quantize({ cacheDir, verify: false, ...options })
  const outDir = path.join(dir, 'dist')
  fs.rmSync(outDir, { recursive: true, force: true })
  const compiler = webpack({
    mode: 'production',
    context: dir,
    entry: './main.js',
    output: { path: outDir, filename: 'main.js', assetModuleFilename: 'assets/[name]-[contenthash][ext]' },
    optimization: { minimize: false },
    module: { rules },
    plugins: [plugin],
    infrastructureLogging: { level: 'none' },
    cache: persistentCache ? { type: 'filesystem', cacheDirectory: path.join(dir, '.webpack-cache') } : false,
  })
  const stats = await compileOrThrow(compiler)
  const files = readTree(outDir)
  const warnings = stats.toJson({ all: false, warnings: true }).warnings!.map((w) => w.message)
  return { files, stats: plugin.api.stats(), warnings }
}

const onnxFiles = (b: Built) => onnxFilesOf(b.files)
const jsText = (b: Built) => jsTextOf(b.files)
const floatBytes = () => fs.readFileSync(FLOAT)

describe('webpack plugin', () => {
  let first: Built
  let quantName: string

  beforeAll(async () => {
    first = await webpackBuild()
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

  it('the bundle refers to the hashed file; import and new URL share one asset', () => {
    expect(jsText(first)).toContain(quantName)
    expect(onnxFiles(first).filter((f) => f.startsWith('assets/hello_deepa-'))).toEqual([quantName])
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
    expect(jsText(first)).toContain(emitted[0]!)
  })

  it('a second build quantizes nothing and emits the same files', async () => {
    const second = await webpackBuild()
    expect(second.stats).toMatchObject({ quantized: 0, reused: 1 })
    expect(second.files.get(quantName)?.equals(first.files.get(quantName)!)).toBe(true)
  })

  it("with webpack's filesystem cache, a warm build still emits the report", async () => {
    const cold = await webpackBuild({}, true)
    expect(cold.stats).toMatchObject({ quantized: 0, reused: 1 })
    const warm = await webpackBuild({}, true)
    // the module came from webpack's cache: the plugin did not even look at the model
    expect(warm.stats).toMatchObject({ quantized: 0, reused: 0 })
    expect(warm.files.get(quantName)?.equals(first.files.get(quantName)!)).toBe(true)
    const report = JSON.parse(warm.files.get(quantName.replace(/\.onnx$/, '.quant.json'))!.toString('utf8')) as Record<string, unknown>
    expect(report).toMatchObject({ bitNum: 8, output: quantName, config: 'hello_deepa.onnx.cfg' })
  })

  it("with webpack's filesystem cache, a changed plugin option is not answered from the old cache", async () => {
    await webpackBuild({}, true)
    // other.onnx has no cfg: a defaultConfig quantizes it, which the cached module knows nothing of
    const changed = await webpackBuild({ defaultConfig: { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } } }, true)
    const other = onnxFiles(changed).filter((f) => f.startsWith('assets/other-'))
    expect(other).toHaveLength(1)
    expect(changed.files.get(other[0]!)!.equals(fs.readFileSync(OTHER))).toBe(false)
  })

  it('a broken cfg fails the build naming the cfg file; with onError warn it emits the original', async () => {
    writeCfg(99)
    try {
      await expect(webpackBuild()).rejects.toThrow(/hello_deepa\.onnx.*hello_deepa\.onnx\.cfg.*bit_num/s)
      const warned = await webpackBuild({ onError: 'warn' })
      expect(warned.stats.failed).toBe(1)
      const names = onnxFiles(warned).filter((f) => f.startsWith('assets/hello_deepa-'))
      expect(names).toHaveLength(1)
      expect(warned.files.get(names[0]!)!.equals(floatBytes())).toBe(true)
      expect(warned.warnings.join('\n')).toMatch(/hello_deepa\.onnx\.cfg/)
    } finally {
      writeCfg(8)
    }
  })

  it("the user's own rule for a model stands: asset/inline gets the quantized bytes as a data URL", async () => {
    const inlined = await webpackBuild({}, false, [{ test: /hello_deepa\.onnx$/, type: 'asset/inline', generator: { dataUrl: { mimetype: 'application/octet-stream' } } }])
    expect(onnxFiles(inlined).filter((f) => f.startsWith('assets/hello_deepa-'))).toEqual([])
    const url = /"(data:application\/octet-stream;base64,[A-Za-z0-9+/=]+)"/.exec(jsText(inlined))
    expect(url).not.toBeNull()
    const bytes = Buffer.from(url![1]!.split(',')[1]!, 'base64')
    expect(bytes.equals(first.files.get(quantName)!)).toBe(true)
    // still in the build's report, without a file
    const html = inlined.files.get('quantize-report.html')!.toString('utf8')
    expect(html).toContain('hello_deepa.onnx')
  })

  it('options are checked when the plugin is created', () => {
    expect(() => quantize({ onError: 'x' } as unknown as Options)).toThrow(/option 'onError' must be 'error' or 'warn'/)
  })
})

describe('webpack entry', () => {
  // `npm test` builds dist first; a bare vitest run before any build skips this
  const dist = path.join(here, '../dist/plugins/webpack.js')
  it.skipIf(!fs.existsSync(dist))('is require()-able from CommonJS (built dist)', () => {
    const mod = createRequire(import.meta.url)(dist) as { default: unknown; quantize: unknown }
    expect(typeof mod.quantize).toBe('function')
    expect(mod.default).toBe(mod.quantize)
  })
})

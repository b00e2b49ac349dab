import fs from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { build, context, type Plugin } from 'esbuild'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import quantize, { type Options } from '../plugins/esbuild.js'
import { ModelQuantizer } from '../plugins/core/quantize-asset.js'
import { FLOAT, OTHER, makeFixtureApp, writeWeightCfg, type Built, expectCloseToFloat, expectQuantizedAsset, jsText as jsTextOf, onnxFiles as onnxFilesOf, esbuildBundle } from './helpers/bundler-build.js'
import { until } from './helpers/until.js'

let dir: string
let cacheDir: string
let cfgFile: string

beforeAll(() => {
  ({ dir, cacheDir, cfgFile } = makeFixtureApp('esbuild-app'))
})

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

const writeCfg = (bits: number | string): void => writeWeightCfg(cfgFile, bits)

/** One bundle of the fixture with a fresh plugin (as a new esbuild process would). */
async function esbuildBuild(options: Options = {}): Promise<Built> {
  const plugin = quantize({ cacheDir, verify: false, ...options })
  const { files, warnings } = await esbuildBundle(dir, 'main.js', [plugin], path.join(dir, 'dist'))
  return { files, stats: plugin.api.stats(), warnings }
}

const onnxFiles = (b: Built) => onnxFilesOf(b.files)
const jsText = (b: Built) => jsTextOf(b.files)
const floatBytes = () => fs.readFileSync(FLOAT)

describe('esbuild plugin', () => {
  let first: Built
  let quantName: string

  beforeAll(async () => {
    first = await esbuildBuild()
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
    const js = jsText(first)
    expect(js).toContain(`./${quantName}`)
    expect(js).toMatch(/new URL\(\w+, import\.meta\.url\)/)
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
    expect(jsText(first)).toContain(`./${emitted[0]!}`)
  })

  it('a second build quantizes nothing and emits the same files', async () => {
    const second = await esbuildBuild()
    expect(second.stats).toMatchObject({ quantized: 0, reused: 1 })
    expect(second.files.get(quantName)?.equals(first.files.get(quantName)!)).toBe(true)
  })

  it('a broken cfg fails the build naming the cfg file; with onError warn it emits the original', async () => {
    writeCfg(99)
    try {
      await expect(esbuildBuild()).rejects.toThrow(/hello_deepa\.onnx.*hello_deepa\.onnx\.cfg.*bit_num/s)
      const warned = await esbuildBuild({ onError: 'warn' })
      expect(warned.stats).toMatchObject({ failed: 1, quantized: 0 })
      const names = onnxFiles(warned).filter((f) => f.startsWith('assets/hello_deepa-'))
      expect(names).toHaveLength(1)
      expect(warned.files.get(names[0]!)!.equals(floatBytes())).toBe(true)
      expect(warned.warnings.join('\n')).toMatch(/hello_deepa\.onnx\.cfg/)
    } finally {
      writeCfg(8)
    }
  })

  it('cfg warnings are in the log and the report on every build, as the cfg reads now, with project-relative paths', async () => {
    const reportOf = (b: Built) => JSON.parse(b.files.get(quantName.replace(/\.onnx$/, '.quant.json'))!.toString('utf8')) as { warnings: string[] }
    const typo = "hello_deepa.onnx.cfg:4: unknown key 'bitnum' in [common_quant_param]"
    // esbuild has no warning channel for plugins outside onLoad's result: the console
    const logged = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    try {
      // a misspelt key is ignored, so the key and the cached result stay the same
      fs.appendFileSync(cfgFile, 'bitnum=4\n')
      const warned = await esbuildBuild()
      expect(warned.stats).toMatchObject({ quantized: 0, reused: 1 })
      expect(logged.mock.calls.some(([m]) => String(m).startsWith(`[unplugin-quantize] ${typo}`))).toBe(true)
      expect(reportOf(warned).warnings.some((w) => w.startsWith(typo))).toBe(true)
      expect(JSON.stringify(reportOf(warned))).not.toContain(dir)
      writeCfg(8)
      logged.mockClear()
      const fixed = await esbuildBuild()
      expect(fixed.stats).toMatchObject({ quantized: 0, reused: 1 })
      expect(logged).not.toHaveBeenCalled()
      expect(reportOf(fixed).warnings.filter((w) => w.includes('bitnum'))).toEqual([])
    } finally {
      writeCfg(8)
      logged.mockRestore()
    }
  })

  it("the engine's warnings are in the log too, naming the model, on every build, hit or miss", async () => {
    const logged = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    const unmatched = "[unplugin-quantize] hello_deepa.onnx: hello_deepa.onnx.cfg:4: skip_quant_node: no node is named 'NoSuchConv'"
    const said = () => logged.mock.calls.filter(([m]) => String(m).startsWith(unmatched)).length
    try {
      fs.writeFileSync(cfgFile, '[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=8\nskip_quant_node=NoSuchConv\n')
      const missed = await esbuildBuild()
      expect(missed.stats).toMatchObject({ quantized: 1 })
      expect(said()).toBe(1)
      logged.mockClear()
      const hit = await esbuildBuild()
      expect(hit.stats).toMatchObject({ quantized: 0, reused: 1 })
      expect(said()).toBe(1)
    } finally {
      writeCfg(8)
      logged.mockRestore()
    }
  })

  it("the build's loader for scripts stands: JSX in a .js file whose new URL is rewritten", async () => {
    // before: the rewritten file was forced to loader 'js' and its JSX failed to parse
    fs.writeFileSync(path.join(dir, 'jsx-main.js'), "const h = (t, p) => ({ t, p })\nconst url = new URL('./hello_deepa.onnx', import.meta.url).href\nexport const el = <div data-model={url} />\n")
    const outDir = path.join(dir, 'dist-jsx')
    const plugin = quantize({ cacheDir, verify: false })
    await esbuildBundle(dir, 'jsx-main.js', [plugin], outDir, { loader: { '.js': 'jsx' }, jsxFactory: 'h' })
    const js = fs.readFileSync(path.join(outDir, 'jsx-main.js'), 'utf8')
    expect(js).toMatch(/h\("div", \{ "data-model": url \}\)/)
    expect(js).toContain(`./${quantName}`)
  })

  it("the build's loader for .onnx stands: 'binary' imports the quantized bytes; new URL still gets the file", async () => {
    // before: the plugin answered every model with loader 'file', so the import was a URL string
    fs.writeFileSync(path.join(dir, 'binary-main.js'), "import bytes from './hello_deepa.onnx'\nexport const url = new URL('./hello_deepa.onnx', import.meta.url).href\nexport default bytes\n")
    const outDir = path.join(dir, 'dist-binary')
    const plugin = quantize({ cacheDir, verify: false })
    await esbuildBundle(dir, 'binary-main.js', [plugin], outDir, { platform: 'node', target: 'node20', loader: { '.onnx': 'binary' } })
    const built = await import(pathToFileURL(path.join(outDir, 'binary-main.js')).href) as { default: unknown; url: string }
    expect(built.default).toBeInstanceOf(Uint8Array)
    expect(Buffer.from(built.default as Uint8Array).equals(first.files.get(quantName)!)).toBe(true)
    expect(built.url).toBe(pathToFileURL(path.join(outDir, quantName)).href)
    expect(fs.readFileSync(path.join(outDir, quantName)).equals(first.files.get(quantName)!)).toBe(true)
    expect(fs.readFileSync(path.join(outDir, 'quantize-report.html'), 'utf8')).toContain(quantName)
  })

  it("a model imported with the build's '.onnx' loader and named by new URL is quantized once per build and counted once", async () => {
    // the import and the new URL are two modules in esbuild (two namespaces); before, each ran
    // the quantizer, and the second, once the first was done, counted a second cache hit
    fs.writeFileSync(path.join(dir, 'twice-main.js'), "import bytes from './hello_deepa.onnx'\nimport { url } from './twice-late.js'\nexport default [bytes, url]\n")
    fs.writeFileSync(path.join(dir, 'twice-late.js'), "export const url = new URL('./hello_deepa.onnx', import.meta.url).href\n")
    const processed = vi.spyOn(ModelQuantizer.prototype, 'process')
    // the new URL's file loads only once the import's quantization is over, so it cannot join it in flight
    const afterTheImport: Plugin = {
      name: 'after-the-import',
      setup: (b) => void b.onLoad({ filter: /twice-late\.js$/ }, async () => {
        await until("the import's quantization to start", () => processed.mock.results.length > 0)
        await processed.mock.results[0]!.value
        return undefined
      }),
    }
    try {
      const plugin = quantize({ cacheDir, verify: false })
      const outDir = path.join(dir, 'dist-twice')
      fs.rmSync(outDir, { recursive: true, force: true })
      await build({ absWorkingDir: dir, entryPoints: ['twice-main.js'], bundle: true, format: 'esm', platform: 'node', outdir: outDir, assetNames: 'assets/[name]-[hash]', loader: { '.onnx': 'binary' }, logLevel: 'silent', plugins: [afterTheImport, plugin] })
      expect(processed).toHaveBeenCalledTimes(1)
      expect(plugin.api.stats()).toMatchObject({ quantized: 0, reused: 1 })
      const html = fs.readFileSync(path.join(outDir, 'quantize-report.html'), 'utf8')
      expect(html.match(/<h2 class="mono">hello_deepa\.onnx<\/h2>/g)).toHaveLength(1)
      expect(fs.readFileSync(path.join(outDir, quantName)).equals(first.files.get(quantName)!)).toBe(true)
    } finally {
      processed.mockRestore()
    }
  })

  it("a failing model both imported with the build's '.onnx' loader and named by new URL is one error, as with onError 'warn' it is one warning", async () => {
    writeCfg(99)
    try {
      fs.writeFileSync(path.join(dir, 'both-main.js'), "import bytes from './hello_deepa.onnx'\nexport const url = new URL('./hello_deepa.onnx', import.meta.url).href\nexport default bytes\n")
      const run = (onError: 'error' | 'warn') => build({ absWorkingDir: dir, entryPoints: ['both-main.js'], bundle: true, format: 'esm', platform: 'node', outdir: path.join(dir, 'dist-both'), loader: { '.onnx': 'binary' }, logLevel: 'silent', plugins: [quantize({ cacheDir, verify: false, onError })] })
      const failed = await run('error').then(() => null, (e: { errors: { text: string }[] }) => e)
      expect(failed?.errors.filter((e) => /bit_num/.test(e.text))).toHaveLength(1)
      const warned = await run('warn')
      expect(warned.warnings.filter((w) => /bit_num/.test(w.text))).toHaveLength(1)
    } finally {
      writeCfg(8)
    }
  })

  it("an idle context() keeps no model's quantized bytes once its build has ended", async () => {
    v8.setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    fs.writeFileSync(path.join(dir, 'idle-main.js'), "import bytes from './hello_deepa.onnx'\nexport default bytes\n")
    const processed = vi.spyOn(ModelQuantizer.prototype, 'process')
    const ctx = await context({ absWorkingDir: dir, entryPoints: ['idle-main.js'], bundle: true, format: 'esm', platform: 'node', outdir: path.join(dir, 'dist-idle'), loader: { '.onnx': 'binary' }, logLevel: 'silent', plugins: [quantize({ cacheDir, verify: false })] })
    try {
      await ctx.rebuild()
      expect(processed).toHaveBeenCalledTimes(1)
      const bytes = new WeakRef(((await processed.mock.results[0]!.value) as { bytes: Uint8Array }).bytes)
      processed.mockRestore()
      await until('the quantized bytes to be collected', async () => {
        gc()
        await new Promise((r) => setTimeout(r, 10))
        return bytes.deref() === undefined
      }, { timeoutMs: 3000 })
    } finally {
      processed.mockRestore()
      await ctx.dispose()
    }
  })

  it('options are checked when the plugin is created', () => {
    expect(() => quantize({ onError: 'x' } as unknown as Options)).toThrow(/option 'onError' must be 'error' or 'warn'/)
  })
})

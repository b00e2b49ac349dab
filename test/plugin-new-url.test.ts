// `new URL('<model>', import.meta.url)` as people write it: every plain spelling reaches the
// quantizer, look-alikes in comments and strings stay as written, and the rewritten module keeps
// an accurate source map.
import fs from 'node:fs'
import { SourceMap, type SourceMapPayload } from 'node:module'
import path from 'node:path'
import type { BuildFailure } from 'esbuild'
import MagicString from 'magic-string'
import { rolldown } from 'rolldown'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import quantizeEsbuild from '../plugins/esbuild.js'
import quantizeRollup from '../plugins/rollup.js'
import quantizeVite, { type Options, type QuantizePluginApi } from '../plugins/vite.js'
import { newStats } from '../plugins/core/quantize-asset.js'
import { FLOAT, OTHER, esbuildBundle, jsText, makeFixtureApp, onnxFiles, readTree, viteProductionBuild, type Built } from './helpers/bundler-build.js'

let dir: string
let cacheDir: string

beforeAll(() => {
  ({ dir, cacheDir } = makeFixtureApp('new-url-app'))
})

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

/** A production build of one entry of the fixture (through an index.html) with a fresh plugin. */
async function viteEntry(entry: string, options: Options = {}, sourcemap = false, alias: Record<string, string> = {}): Promise<Built> {
  fs.writeFileSync(path.join(dir, 'index.html'), `<!doctype html>\n<script type="module" src="./${entry}"></script>\n`)
  const plugin = quantizeVite({ cacheDir, verify: false, ...options })
  const { files, warnings } = await viteProductionBuild(dir, [plugin], path.join(dir, 'dist-vite'), { sourcemap }, { alias })
  return { files, stats: (plugin.api as QuantizePluginApi).stats(), warnings }
}

/** One esbuild bundle of one entry of the fixture with a fresh plugin (`options` null: without the plugin). */
async function esbuildEntry(entry: string, options: Options | null = {}, sourcemap = false): Promise<Built> {
  const plugin = options === null ? null : quantizeEsbuild({ cacheDir, verify: false, ...options })
  const { files, warnings } = await esbuildBundle(dir, entry, plugin ? [plugin] : [], path.join(dir, 'dist-esbuild'), { sourcemap })
  return { files, stats: plugin?.api.stats() ?? newStats(), warnings }
}

/** One Rolldown bundle (what `unplugin-quantize/rollup` runs in) of one entry with a fresh plugin. */
async function rolldownEntry(entry: string, options: Options | null = {}): Promise<Built> {
  const plugin = options === null ? null : quantizeRollup({ cacheDir, verify: false, ...options })
  const outDir = path.join(dir, 'dist-rolldown')
  fs.rmSync(outDir, { recursive: true, force: true })
  const bundle = await rolldown({ cwd: dir, input: path.join(dir, entry), plugins: plugin ? [plugin] : [], logLevel: 'silent' })
  try {
    await bundle.write({ dir: outDir, format: 'es', assetFileNames: 'assets/[name]-[hash][extname]' })
  } finally {
    await bundle.close()
  }
  return { files: readTree(outDir), stats: plugin ? (plugin.api as QuantizePluginApi).stats() : newStats(), warnings: [] }
}

/** The one hello_deepa asset a build emitted: quantized, never the float file beside it. */
function onlyQuantized(built: Built): string {
  const names = onnxFiles(built.files).filter((f) => f.startsWith('assets/hello_deepa-'))
  expect(names).toHaveLength(1)
  const bytes = built.files.get(names[0]!)!
  expect(bytes.length).toBeLessThan(fs.statSync(FLOAT).size / 2)
  return names[0]!
}

describe('new URL spellings', () => {
  it.each(['vite', 'esbuild'] as const)('%s: a template literal, a trailing comma and a bare file name all get the quantized model', async (bundler) => {
    const built = bundler === 'vite' ? await viteEntry('spellings.js') : await esbuildEntry('spellings.js')
    const name = onlyQuantized(built)
    const js = jsText(built.files)
    expect(js).toContain(path.basename(name))
    // all three spellings became the import's URL; none is left for the bundler to resolve alone
    expect(js.match(/new URL\(\s*\w+,\s*import\.meta\.url,?\s*\)/g)).toHaveLength(3)
    expect(js).not.toMatch(/hello_deepa\.onnx['"`]/)
  })
})

describe('new URL with a path that is not relative', () => {
  // Vite's own new-URL handling resolves a path that is not relative with its resolver
  // (resolve.alias, then files of packages): the plugin asks the same resolver
  const aliased = (): string => {
    fs.mkdirSync(path.join(dir, 'nested'), { recursive: true })
    fs.writeFileSync(path.join(dir, 'nested/aliased.js'), "const model = new URL('@/hello_deepa.onnx', import.meta.url).href\ndocument.body.dataset.model = model\n")
    return 'nested/aliased.js'
  }

  it('vite: the model an alias names gets quantized', async () => {
    // before: the new URL was left to Vite, which emitted the float model
    const built = await viteEntry(aliased(), {}, false, { '@': dir })
    const name = onlyQuantized(built)
    const js = jsText(built.files)
    expect(js).toContain(path.basename(name))
    expect(js).not.toContain('@/hello_deepa.onnx')
  })

  it('vite: an alias wins over a same-named file beside the importer, as in Vite', async () => {
    // models/ -> shared/ by alias; sub/models/hello_deepa.onnx (another model, no cfg) stands
    // where the path read relatively would lead. Vite emits shared/'s; so must the plugin.
    fs.mkdirSync(path.join(dir, 'shared'), { recursive: true })
    fs.mkdirSync(path.join(dir, 'sub/models'), { recursive: true })
    fs.copyFileSync(FLOAT, path.join(dir, 'shared/hello_deepa.onnx'))
    fs.copyFileSync(path.join(dir, 'hello_deepa.onnx.cfg'), path.join(dir, 'shared/hello_deepa.onnx.cfg'))
    fs.copyFileSync(OTHER, path.join(dir, 'sub/models/hello_deepa.onnx'))
    fs.writeFileSync(path.join(dir, 'sub/main.js'), "const model = new URL('models/hello_deepa.onnx', import.meta.url).href\ndocument.body.dataset.model = model\n")
    const built = await viteEntry('sub/main.js', {}, false, { models: path.join(dir, 'shared') })
    onlyQuantized(built)
    expect(built.stats).toMatchObject({ failed: 0, passedThrough: 0 })
    expect(built.stats.quantized + built.stats.reused).toBe(1)
  })

  it("vite: a package's model, resolved as Vite resolves it, gets quantized", async () => {
    const pkg = path.join(dir, 'node_modules/wake-models')
    fs.mkdirSync(pkg, { recursive: true })
    fs.writeFileSync(path.join(pkg, 'package.json'), '{ "name": "wake-models", "version": "1.0.0" }\n')
    fs.copyFileSync(FLOAT, path.join(pkg, 'hello_deepa.onnx'))
    fs.copyFileSync(path.join(dir, 'hello_deepa.onnx.cfg'), path.join(pkg, 'hello_deepa.onnx.cfg'))
    fs.writeFileSync(path.join(dir, 'packaged.js'), "const model = new URL('wake-models/hello_deepa.onnx', import.meta.url).href\ndocument.body.dataset.model = model\n")
    const built = await viteEntry('packaged.js')
    onlyQuantized(built)
    expect(built.stats).toMatchObject({ failed: 0, passedThrough: 0 })
  })

  it('vite: one the filter excludes is left to Vite, which emits it as it is', async () => {
    const built = await viteEntry(aliased(), { exclude: ['**/hello_deepa.onnx'] }, false, { '@': dir })
    const names = onnxFiles(built.files).filter((f) => f.startsWith('assets/hello_deepa-'))
    expect(names).toHaveLength(1)
    expect(built.files.get(names[0]!)!.equals(fs.readFileSync(FLOAT))).toBe(true)
    expect(built.stats).toMatchObject({ quantized: 0, reused: 0 })
  })
})

describe('new URL look-alikes', () => {
  it.each(['vite', 'esbuild'] as const)('%s: one in a comment or a string is left as written', async (bundler) => {
    // before: the comment's ./removed.onnx became an import that failed the build
    const built = bundler === 'vite' ? await viteEntry('look-alikes.js') : await esbuildEntry('look-alikes.js')
    onlyQuantized(built)
    const js = jsText(built.files)
    expect(js).toContain(`"usage: new URL('./hello_deepa.onnx', import.meta.url)"`)
    expect(js.match(/new URL\(\w+, import\.meta\.url\)/g)).toHaveLength(1)
  })
})

describe('new URL in JSX', () => {
  it('vite: found after an apostrophe in JSX text; one in a comment stays as written', async () => {
    // strip-literal reads "Don't" as the start of a string: the new URL after it went unseen and Vite emitted the float model
    fs.writeFileSync(path.join(dir, 'view.jsx'), [
      '/** @jsxRuntime classic */',
      '/** @jsx h */',
      'const h = (tag, props, ...children) => ({ tag, props, children })',
      "// old: new URL('./removed.onnx', import.meta.url)",
      "export const view = <p>Don't miss <a href={new URL('./hello_deepa.onnx', import.meta.url).href}>the model</a></p>",
      'document.body.dataset.view = JSON.stringify(view)',
      '',
    ].join('\n'))
    const built = await viteEntry('view.jsx', {})
    onlyQuantized(built)
    expect(jsText(built.files)).not.toContain('removed.onnx?url')
  })
})

describe('source maps', () => {
  it.each(['vite', 'esbuild'] as const)('%s --sourcemap maps code after a rewritten new URL back to its own column, in the file as written', async (bundler) => {
    const built = bundler === 'vite' ? await viteEntry('throws.js', {}, true) : await esbuildEntry('throws.js', {}, true)
    const [jsName] = [...built.files.keys()].filter((f) => f.endsWith('.js'))
    const js = built.files.get(jsName!)!.toString('utf8')
    const payload = JSON.parse(built.files.get(`${jsName}.map`)!.toString('utf8')) as SourceMapPayload
    const map = new SourceMap(payload)
    const lines = js.split('\n')
    const line = lines.findIndex((l) => l.includes('throw new Error'))
    const entry = map.findEntry(line, lines[line]!.indexOf('throw'))
    const original = fs.readFileSync(path.join(dir, 'throws.js'), 'utf8')
    expect(entry).toMatchObject({ originalLine: 0, originalColumn: original.indexOf('throw') })
    expect(payload.sourcesContent?.[payload.sources.findIndex((s) => s.endsWith('throws.js'))]).toBe(original)
  })
})

describe('source maps of compiled sources', () => {
  it('esbuild --sourcemap: a rewritten file that has its own map keeps mapping to its real source', async () => {
    // a compiled file: its map points at orig.ts; before, the map appended after the rewrite replaced it
    const code = "const url = new URL('./hello_deepa.onnx', import.meta.url).href\nexport default url\n"
    const own = new MagicString(code).generateMap({ source: 'orig.ts', hires: true, includeContent: true })
    fs.writeFileSync(path.join(dir, 'compiled.js'), `${code}//# sourceMappingURL=${own.toUrl()}\n`)
    const built = await esbuildEntry('compiled.js', {}, true)
    onlyQuantized(built)
    const [jsName] = [...built.files.keys()].filter((f) => f.endsWith('.js'))
    const payload = JSON.parse(built.files.get(`${jsName}.map`)!.toString('utf8')) as SourceMapPayload
    expect(payload.sources.some((s) => s.endsWith('orig.ts'))).toBe(true)
  })
})

describe('include / exclude', () => {
  it.each(['esbuild', 'rolldown'] as const)('%s: a new URL naming an excluded model is left exactly as without the plugin', async (bundler) => {
    // before: it was rewritten to an import no one loads ("No loader is configured for .onnx",
    // "Could not load other.onnx?url")
    const bundle = bundler === 'esbuild' ? esbuildEntry : rolldownEntry
    const alone = await bundle('excluded.js', null)
    // Rollup's globs are relative to the working directory, the test's, not the fixture's
    const built = await bundle('excluded.js', { exclude: ['**/other.onnx'] })
    onlyQuantized(built)
    // esbuild keeps the expression; Rolldown handles new URL itself and emits the file as it is
    const others = (b: Built) => onnxFiles(b.files).filter((f) => f.includes('other')).map((f) => [f, b.files.get(f)!.toString('base64')])
    expect(others(built)).toEqual(others(alone))
    const skippedLine = (b: Built) => jsText(b.files).split('\n').find((l) => l.includes('skipped ='))
    expect(skippedLine(built)).toBe(skippedLine(alone))
    expect(skippedLine(built)).toMatch(/other/)
  })
})

describe('errors point at the new URL', () => {
  const source = () => fs.readFileSync(path.join(dir, 'missing.js'), 'utf8')
  const column = () => source().split('\n')[1]!.indexOf("'./missing.onnx'")

  it('esbuild: a missing model is reported at its literal, not at an import appended to the file', async () => {
    const failure = await esbuildEntry('missing.js').then(() => null, (e: unknown) => e as BuildFailure)
    expect(failure?.errors).toHaveLength(1)
    expect(failure!.errors[0]).toMatchObject({
      text: 'Could not resolve "./missing.onnx"',
      location: { file: 'missing.js', line: 2, column: column(), lineText: source().split('\n')[1] },
    })
  })

  it.each(['vite', 'rolldown'] as const)('%s: a missing model is reported at its literal', async (bundler) => {
    const failed = bundler === 'vite' ? viteEntry('missing.js') : rolldownEntry('missing.js')
    await expect(failed).rejects.toThrow(new RegExp(`missing\\.js:2:${column()}[^]*cannot resolve "\\./missing\\.onnx"`))
  })
})

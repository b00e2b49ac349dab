// Watch mode: each build's quantize-report.html lists the models that build holds, not every
// model the watch session has seen. Re-quantizing on edits is test/plugin-watch.test.ts.
import fs from 'node:fs'
import path from 'node:path'
import { rspack } from '@rspack/core'
import { afterEach, describe, expect, it } from 'vitest'
import quantizeRspack from '../plugins/rspack.js'
import quantizeVite from '../plugins/vite.js'
import { makeFixtureApp, viteBuildWatch } from './helpers/bundler-build.js'
import { until } from './helpers/until.js'

/**
 * Until `builds()` has passed `before` and then stayed put for a moment: one write may start two
 * builds (a truncate, then the bytes), and the report is read once the last one is done.
 */
async function rebuilt(what: string, builds: () => number, before: number): Promise<void> {
  await until(what, () => builds() > before)
  for (let seen = builds(); ; seen = builds()) {
    await new Promise((r) => setTimeout(r, 300))
    if (builds() === seen) return
  }
}

/** The models a quantize-report.html lists, by source path. */
const listed = (html: string): string[] => [...html.matchAll(/<h2 class="mono">([^<]*)<\/h2>/g)].map((m) => m[1]!).sort()

let cleanup: (() => Promise<void>)[] = []
afterEach(async () => {
  for (const c of cleanup.reverse()) await c()
  cleanup = []
})

/** The fixture app plus twin.onnx: hello_deepa's bytes and cfg, so the same quantized bytes; main.js imports it. */
function appWithTwin(fixture: string): { dir: string; cacheDir: string; main: string; withoutTwin: string } {
  const { dir, cacheDir, cfgFile } = makeFixtureApp(fixture)
  fs.copyFileSync(path.join(dir, 'hello_deepa.onnx'), path.join(dir, 'twin.onnx'))
  fs.copyFileSync(cfgFile, path.join(dir, 'twin.onnx.cfg'))
  const main = path.join(dir, 'main.js')
  const withoutTwin = fs.readFileSync(main, 'utf8')
  fs.writeFileSync(main, `${withoutTwin}import twin from './twin.onnx'\ndocument.body.dataset.twin = twin\n`)
  return { dir, cacheDir, main, withoutTwin }
}

/** The Vite app's own model; the workers below reference other.onnx. */
const APP = "export const model = new URL('./hello_deepa.onnx', import.meta.url).href\n"
const startWorker = (file: string): string => `export const worker = new Worker(new URL('./${file}', import.meta.url), { type: 'module' })\n`

/**
 * `vite build --watch` of the Vite fixture with `files` written into it and the plugin in
 * `worker.plugins` too; `edit` rewrites a file and waits for the build it starts.
 */
async function viteWatch(files: Record<string, string>): Promise<{ report: () => string[]; edit: (file: string, code: string) => Promise<void> }> {
  const { dir, cacheDir } = makeFixtureApp('vite-app')
  for (const [file, code] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), code)
  const outDir = path.join(dir, 'dist')
  const options = { cacheDir, verify: false }
  const { builds, errors, close } = await viteBuildWatch({ root: dir, plugins: [quantizeVite(options)], worker: { format: 'es', plugins: () => [quantizeVite(options)] } }, outDir)
  cleanup.push(async () => {
    await close()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  await rebuilt('the first build', builds, 0)
  expect(errors).toEqual([])
  return {
    report: () => listed(fs.readFileSync(path.join(outDir, 'quantize-report.html'), 'utf8')),
    edit: async (file, code) => {
      const before = builds()
      fs.writeFileSync(path.join(dir, file), code)
      await rebuilt(`the rebuild after editing ${file}`, builds, before)
      expect(errors, file).toEqual([])
    },
  }
}

describe('watch builds report only the models they hold', () => {
  it('rspack --watch: a model dropped from the app leaves the report, though its bytes are another asset\'s', async () => {
    const app = appWithTwin('rspack-app')
    const outDir = path.join(app.dir, 'dist')
    const compiler = rspack({
      mode: 'development',
      devtool: false,
      context: app.dir,
      entry: './main.js',
      output: { path: outDir, filename: 'main.js', assetModuleFilename: 'assets/[name]-[contenthash][ext]', clean: true },
      plugins: [quantizeRspack({ cacheDir: app.cacheDir, verify: false })],
      infrastructureLogging: { level: 'none' },
    })
    let builds = 0
    const errors: string[] = []
    const watching = compiler.watch({ aggregateTimeout: 20 }, (err, stats) => {
      if (err) errors.push(err.message)
      else if (stats?.hasErrors()) errors.push(...stats.toJson({ all: false, errors: true }).errors!.map((e) => e.message))
      builds++
    })
    cleanup.push(async () => {
      await new Promise<void>((resolve) => watching.close(() => resolve()))
      fs.rmSync(app.dir, { recursive: true, force: true })
    })
    const report = () => listed(fs.readFileSync(path.join(outDir, 'quantize-report.html'), 'utf8'))
    await rebuilt('the first build', () => builds, 0)
    expect(errors).toEqual([])
    expect(report()).toEqual(['hello_deepa.onnx', 'other.onnx', 'twin.onnx'])

    const before = builds
    fs.writeFileSync(app.main, app.withoutTwin)
    await rebuilt('the rebuild without twin.onnx', () => builds, before)
    expect(errors).toEqual([])
    // before: twin.onnx was still listed, matched by its bytes to hello_deepa's asset
    expect(report()).toEqual(['hello_deepa.onnx', 'other.onnx'])
  })

  it('vite build --watch: the models of a worker the app no longer starts leave the main report', async () => {
    const w = await viteWatch({ 'model-worker.js': "postMessage(new URL('./other.onnx', import.meta.url).href)\n", 'main.js': `${APP}${startWorker('model-worker.js')}` })
    expect(w.report()).toEqual(['hello_deepa.onnx', 'other.onnx'])
    // before: the worker's entry stayed, and other.onnx with it
    await w.edit('main.js', APP)
    expect(w.report()).toEqual(['hello_deepa.onnx'])
    // Vite keeps the unchanged worker's bundle and does not build it again: its models come back with it
    await w.edit('main.js', `${APP}${startWorker('model-worker.js')}`)
    expect(w.report()).toEqual(['hello_deepa.onnx', 'other.onnx'])
    await w.edit('main.js', `${APP}import ModelWorker from './model-worker.js?worker&inline'\nexport const worker = new ModelWorker()\n`)
    expect(w.report()).toEqual(['hello_deepa.onnx', 'other.onnx'])
  })

  it('vite build --watch: the models of a worker started by a worker follow it', async () => {
    const w = await viteWatch({ 'leaf.js': "postMessage(new URL('./other.onnx', import.meta.url).href)\n", 'outer.js': startWorker('leaf.js'), 'main.js': `${APP}${startWorker('outer.js')}` })
    expect(w.report()).toEqual(['hello_deepa.onnx', 'other.onnx'])
    // outer.js is built again and no longer starts leaf.js, which Vite keeps as it was
    await w.edit('outer.js', 'postMessage(1)\n')
    expect(w.report()).toEqual(['hello_deepa.onnx'])
    await w.edit('outer.js', startWorker('leaf.js'))
    expect(w.report()).toEqual(['hello_deepa.onnx', 'other.onnx'])
    await w.edit('main.js', APP)
    expect(w.report()).toEqual(['hello_deepa.onnx'])
  })
})

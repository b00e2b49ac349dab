// Watch mode: each build's quantize-report.html lists the models that build holds, not every
// model the watch session has seen. Re-quantizing on edits is test/plugin-watch.test.ts.
import fs from 'node:fs'
import path from 'node:path'
import { rspack } from '@rspack/core'
import { afterEach, describe, expect, it } from 'vitest'
import quantizeRspack from '../plugins/rspack.js'
import { makeFixtureApp } from './helpers/bundler-build.js'

async function until(what: string, cond: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
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
    await until('the first build', () => builds >= 1)
    expect(errors).toEqual([])
    expect(report()).toEqual(['hello_deepa.onnx', 'other.onnx', 'twin.onnx'])

    const before = builds
    fs.writeFileSync(app.main, app.withoutTwin)
    await until('the rebuild without twin.onnx', () => builds > before && !fs.readFileSync(path.join(outDir, 'main.js'), 'utf8').includes('twin'))
    expect(errors).toEqual([])
    // before: twin.onnx was still listed, matched by its bytes to hello_deepa's asset
    expect(report()).toEqual(['hello_deepa.onnx', 'other.onnx'])
  })
})

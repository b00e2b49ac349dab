// `unplugin-quantize/rollup` in Rollup itself (the other plugin tests run it in Rolldown, which
// Vite 8 uses): the app of test/fixtures/esbuild-app, an import and a `new URL` of a model with a
// cfg and an import of one without.
import fs from 'node:fs'
import path from 'node:path'
import { rollup } from 'rollup'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import quantizeRollup from '../plugins/rollup.js'
import type { QuantizePluginApi } from '../plugins/vite.js'
import { FLOAT, OTHER, expectQuantizedAsset, jsText, makeFixtureApp, onnxFiles, readTree } from './helpers/bundler-build.js'

let dir: string
let cacheDir: string
let files: Map<string, Buffer>
let api: QuantizePluginApi
const logged: string[] = []

beforeAll(async () => {
  ({ dir, cacheDir } = makeFixtureApp('esbuild-app'))
  const plugin = quantizeRollup({ cacheDir, verify: false })
  api = plugin.api as QuantizePluginApi
  const outDir = path.join(dir, 'dist')
  const bundle = await rollup({ input: path.join(dir, 'main.js'), plugins: [plugin], logLevel: 'info', onLog: (_level, log) => void logged.push(log.message) })
  try {
    await bundle.write({ dir: outDir, format: 'es', assetFileNames: 'assets/[name]-[hash][extname]' })
  } finally {
    await bundle.close()
  }
  files = readTree(outDir)
})

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

describe('rollup', () => {
  it('emits the quantized model under a hashed name, its report beside it, and the build report', () => {
    // before: generateBundle asked the load hook's context for the asset's name, which Rollup
    // (unlike Rolldown) names only in the output's own emitter: "Unable to get file name for asset"
    const name = onnxFiles(files).find((f) => f.startsWith('assets/hello_deepa-'))
    expect(name).toBeDefined()
    expectQuantizedAsset(files, name!, FLOAT, cacheDir)
    const report = JSON.parse(files.get(name!.replace(/\.onnx$/, '.quant.json'))!.toString('utf8')) as { output: string; bitNum: number }
    expect(report).toMatchObject({ output: name, bitNum: 8 })
    expect(files.has('quantize-report.html')).toBe(true)
    // the model without a cfg is emitted as it is
    const other = onnxFiles(files).find((f) => f.startsWith('assets/other-'))
    expect(files.get(other!)!.equals(fs.readFileSync(OTHER))).toBe(true)
    expect(api.stats()).toMatchObject({ quantized: 1, failed: 0 })
  })

  it("logs the build's summary table once, prefixed by Rollup alone", () => {
    const summary = logged.filter((m) => m.includes('2 models:'))
    expect(summary).toHaveLength(1)
    expect(summary[0]).toMatch(/^\[plugin unplugin-quantize\] 2 models:\n/)
  })

  it('points the import and the new URL at the emitted file', () => {
    const js = jsText(files)
    const name = onnxFiles(files).find((f) => f.startsWith('assets/hello_deepa-'))!
    expect(js).toContain(path.basename(name))
    expect(js).not.toMatch(/hello_deepa\.onnx['"`]/)
  })
})

// The package as users import it: `unplugin-quantize` and its bundler subpaths, resolved by Node
// through package.json's `exports` to the built dist/, in a child process so that nothing of
// vitest's own resolution stands in for Node's. dist/ is built once per run, before any test file
// (test/setup/build-dist.ts).
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { ROOT } from './helpers/run-cli.js'
import { MODELS } from './helpers/models.js'

/** Run an ES module snippet with Node from the package root; its stdout parsed as JSON. */
function nodeJson(code: string): unknown {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
  expect(run.status, run.stderr).toBe(0)
  return JSON.parse(run.stdout)
}

describe('package exports', () => {
  it('the root exports quantizeModel, which takes a path and a cfg object and returns the model bytes and a report', () => {
    const result = nodeJson(`
      import * as api from 'unplugin-quantize'
      import ort from 'onnxruntime-node'
      const { model, externalData, report } = await api.quantizeModel(${JSON.stringify(MODELS.helloDeepa)}, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } })
      const session = await ort.InferenceSession.create(model)
      console.log(JSON.stringify({
        exports: Object.keys(api).sort(),
        isBytes: model instanceof Uint8Array, externalData,
        report: { quantType: report.quantType, bitNum: report.bitNum, quantized: report.nodesQuantized, cosine: report.cosineSimilarity, sizeOut: report.sizeOut },
        bytes: model.byteLength, inputs: session.inputNames.length,
      }))
    `) as { exports: string[]; isBytes: boolean; externalData: null; report: Record<string, number | string>; bytes: number; inputs: number }
    expect(result.exports).toEqual(expect.arrayContaining(['QuantizeError', 'CfgError', 'cfgFromObject', 'loadCfg', 'parseCfg', 'quantizeModel']))
    expect(result.isBytes).toBe(true)
    expect(result.externalData).toBeNull()
    expect(result.report).toMatchObject({ quantType: 'WEIGHT_QUANT', bitNum: 8, sizeOut: result.bytes })
    expect(result.report.quantized).toBeGreaterThan(0)
    expect(result.report.cosine).toBeGreaterThan(0.9999)
    expect(result.inputs).toBeGreaterThan(0)
  })

  it('every failure is a QuantizeError: a cfg error (CfgError) and a broken model (ModelFileError) too', () => {
    const result = nodeJson(`
      import { quantizeModel, QuantizeError, CfgError, ModelFileError } from 'unplugin-quantize'
      const caught = async (p) => p.then(() => null, (e) => ({ name: e.name, quantize: e instanceof QuantizeError, cfg: e instanceof CfgError, file: e instanceof ModelFileError, code: e.code, message: e.message }))
      const cfg = await caught(quantizeModel(${JSON.stringify(MODELS.helloDeepa)}, { common_quant_param: { quant_type: 'X' } }))
      const fs = await import('node:fs'), os = await import('node:os'), path = await import('node:path')
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'exports-'))
      fs.writeFileSync(path.join(dir, 'broken.onnx'), new Uint8Array([1, 2, 3]))
      const model = await caught(quantizeModel(path.join(dir, 'broken.onnx'), { common_quant_param: { quant_type: 'WEIGHT_QUANT' } }))
      fs.rmSync(dir, { recursive: true })
      console.log(JSON.stringify({ cfg, model }))
    `) as Record<'cfg' | 'model', { name: string; quantize: boolean; cfg: boolean; file: boolean; code: string; message: string }>
    expect(result.cfg).toMatchObject({ name: 'CfgError', quantize: true, cfg: true, file: false, code: 'config' })
    // the message is the cfg's own "file: key=value ... allowed: ..." line, not prefixed twice
    expect(result.cfg.message).toMatch(/^<inline>: quant_type=X .*allowed: WEIGHT_QUANT, FULL_QUANT, DYNAMIC_QUANT$/)
    expect(result.model).toMatchObject({ name: 'ModelFileError', quantize: true, cfg: false, file: true })
  })

  it('each bundler subpath default-exports a plugin factory', () => {
    const kinds = nodeJson(`
      const out = {}
      for (const sub of ['vite', 'rollup', 'webpack', 'esbuild', 'rspack', 'gulp']) out[sub] = typeof (await import('unplugin-quantize/' + sub)).default
      console.log(JSON.stringify(out))
    `)
    expect(kinds).toEqual({ vite: 'function', rollup: 'function', webpack: 'function', esbuild: 'function', rspack: 'function', gulp: 'function' })
  })
})

// Builds examples/vite (what `npm run demo` builds) through its own vite.config.js, which imports
// the plugin by package name (dist/: `npm test` builds first). The model cache is the repository's
// (the config's cacheDir), so after a demo run this takes seconds; cold, one quantization (~45 s).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as ortNode from 'onnxruntime-node'
import sharp from 'sharp'
import { build, createLogger, type Logger } from 'vite'
import { beforeAll, describe, expect, it } from 'vitest'
import { DET_SOURCE, MEAN, STD, exampleDir, prepareExample } from '../examples/vite/prepare.js'
import { runWeb } from './helpers/ort-web.js'
import { readTree } from './helpers/bundler-build.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const outDir = path.join(here, '.tmp/example-vite-dist')

let files: Map<string, Buffer>
let modelName: string
let input: Float32Array
// models/det.float.onnx: the page's fp32 reference, which vite.config.js excludes from quantization
const isFloatCopy = (f: string): boolean => /^assets\/det\.float-[\w-]{6,}\.onnx$/.test(f)

async function run(session: { run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>>; outputNames: readonly string[] }, tensor: unknown): Promise<Float32Array> {
  const out = await session.run({ x: tensor })
  return out[session.outputNames[0]!]!.data as Float32Array
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!
    na += a[i]! * a[i]!
    nb += b[i]! * b[i]!
  }
  return dot / Math.sqrt(na * nb)
}

beforeAll(async () => {
  await prepareExample()
  const warnings: string[] = []
  const logger: Logger = { ...createLogger('silent'), warn: (msg) => void warnings.push(msg) }
  await build({
    root: exampleDir,
    configFile: path.join(exampleDir, 'vite.config.js'),
    logLevel: 'silent',
    customLogger: logger,
    build: { outDir, emptyOutDir: true, rolldownOptions: { checks: { bundlerTimings: false } } },
  })
  files = readTree(outDir)
  modelName = [...files.keys()].find((f) => f.endsWith('.onnx') && !isFloatCopy(f))!
  // the sample page, preprocessed as main.js does (it is 640 x 640 already)
  const { data, info } = await sharp(path.join(exampleDir, 'sample.png')).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  const plane = info.width * info.height
  input = new Float32Array(3 * plane)
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) input[c * plane + p] = (data[p * 3 + c]! / 255 - MEAN[c]!) / STD[c]!
})

describe('examples/vite', () => {
  it('emits the quantized detector under a hashed name, with its report', () => {
    const models = [...files.keys()].filter((f) => f.endsWith('.onnx'))
    expect(models.filter((f) => !isFloatCopy(f))).toEqual([modelName])
    expect(modelName).toMatch(/^assets\/det-[\w-]{6,}\.onnx$/)
    // the excluded fp32 copy is emitted byte for byte, without a report
    const float = models.filter(isFloatCopy)
    expect(float).toHaveLength(1)
    expect(files.get(float[0]!)!.equals(fs.readFileSync(DET_SOURCE))).toBe(true)
    expect([...files.keys()].filter((f) => f.endsWith('.quant.json'))).toHaveLength(1)
    const bytes = files.get(modelName)!
    expect(bytes.length).toBeLessThan(fs.statSync(DET_SOURCE).size / 2)
    const report = JSON.parse(files.get(modelName.replace(/\.onnx$/, '.quant.json'))!.toString('utf8')) as { output: string; input: string; bitNum: number; cosineSimilarity: number; sizeOut: number }
    expect(report).toMatchObject({ output: modelName, input: 'models/det.onnx', bitNum: 8, sizeOut: bytes.length })
    expect(report.cosineSimilarity).toBeGreaterThan(0.999)
  })

  it('the built JS refers to the model, the sample image and the onnxruntime-web wasm', () => {
    const js = [...files].filter(([f]) => f.endsWith('.js')).map(([, b]) => b.toString('utf8')).join('\n')
    expect(js).toContain(path.basename(modelName))
    const wasm = [...files.keys()].filter((f) => f.endsWith('.wasm'))
    expect(wasm).toHaveLength(1)
    expect(js).toContain(path.basename(wasm[0]!))
    const png = [...files.keys()].find((f) => /^assets\/sample-[\w-]+\.png$/.test(f))
    expect(png && js.includes(path.basename(png))).toBe(true)
    expect(files.get('index.html')!.toString('utf8')).toMatch(/<script type="module"[^>]*src="\.\/assets\/index-[\w-]+\.js"/)
  })

  it('the emitted model finds the same text as fp32 in onnxruntime-node, and runs in onnxruntime-web (wasm, in Node)', async () => {
    const feed = new ortNode.Tensor('float32', input, [1, 3, 640, 640])
    const float = await run(await ortNode.InferenceSession.create(DET_SOURCE), feed)
    const quant = await run(await ortNode.InferenceSession.create(new Uint8Array(files.get(modelName)!)), feed)
    expect(cosine(float, quant)).toBeGreaterThan(0.999)
    const text = float.filter((v) => v > 0.3).length
    expect(text / float.length).toBeGreaterThan(0.02) // there is text on the page, and it is found
    expect(Math.abs(quant.filter((v) => v > 0.3).length - text) / text).toBeLessThan(0.02)

    const viaWeb = Object.values(await runWeb(new Uint8Array(files.get(modelName)!), { x: feed }))[0] as Float32Array
    expect(cosine(viaWeb, quant)).toBeGreaterThan(0.9999)
  })
})

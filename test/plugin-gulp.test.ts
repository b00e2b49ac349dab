import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { Readable, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import Vinyl from 'vinyl'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import quantize, { type Options, type QuantizeGulpStream } from '../plugins/gulp.js'
import { WorkerPool } from '../plugins/core/worker-pool.js'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { expectCloseToFloat, readTree } from './helpers/bundler-build.js'
import { MODELS } from './helpers/models.js'
import { until } from './helpers/until.js'

// gulp has no bundled types (and @types/gulp is for gulp 4): only src() and dest() are used
const require = createRequire(import.meta.url)
const gulp = require('gulp') as {
  src(glob: string | string[], options?: { encoding?: string | false; base?: string }): NodeJS.ReadableStream
  dest(folder: string): NodeJS.WritableStream
}

const here = path.dirname(fileURLToPath(import.meta.url))
const fixtures = path.join(here, 'fixtures/gulp')
const FLOAT = MODELS.helloDeepa
const OTHER = MODELS.namasteDeepa

let dir: string
let cacheDir: string
let srcDir: string

beforeAll(() => {
  fs.mkdirSync(path.join(here, '.tmp'), { recursive: true })
  dir = fs.mkdtempSync(path.join(here, '.tmp/gulp-'))
  srcDir = path.join(dir, 'models')
  fs.mkdirSync(srcDir)
  fs.copyFileSync(FLOAT, path.join(srcDir, 'hello_deepa.onnx'))
  fs.copyFileSync(path.join(fixtures, 'hello_deepa.onnx.cfg'), path.join(srcDir, 'hello_deepa.onnx.cfg'))
  fs.copyFileSync(OTHER, path.join(srcDir, 'other.onnx'))
  cacheDir = path.join(dir, '.cache')
})

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true })
})

const plugin = (options: Options = {}): QuantizeGulpStream => quantize({ cacheDir, verify: false, ...options })

/** `src(models/*.onnx) → quantize() → dest(out)`; returns the written files. */
async function gulpRun(stream: Transform, out: string, srcOptions: { encoding?: false } = { encoding: false }): Promise<Map<string, Buffer>> {
  fs.rmSync(out, { recursive: true, force: true })
  await pipeline(gulp.src(path.join(srcDir, '*.onnx'), srcOptions), stream, gulp.dest(out))
  return readTree(out)
}

/** Write vinyl files into the stream and collect what comes out (or the error). */
function collect(stream: Transform, files: Vinyl[]): Promise<Vinyl[]> {
  return new Promise((resolve, reject) => {
    const out: Vinyl[] = []
    stream.on('data', (f: Vinyl) => out.push(f))
    stream.on('error', reject)
    stream.on('end', () => resolve(out))
    for (const f of files) stream.write(f)
    stream.end()
  })
}

describe('gulp plugin', () => {
  let first: Map<string, Buffer>

  it('quantizes models with a cfg, passes the others through, and adds the reports', async () => {
    const stream = plugin()
    first = await gulpRun(stream, path.join(dir, 'out'))
    expect([...first.keys()].sort()).toEqual(['hello_deepa.onnx', 'hello_deepa.quant.json', 'other.onnx', 'quantize-report.html'])
    const bytes = first.get('hello_deepa.onnx')!
    expect(bytes.length).toBeLessThan(fs.statSync(FLOAT).size / 2)
    await expectCloseToFloat(FLOAT, bytes)
    expect(first.get('other.onnx')!.equals(fs.readFileSync(OTHER))).toBe(true)
    const report = JSON.parse(first.get('hello_deepa.quant.json')!.toString('utf8')) as { output: string; bitNum: number; quantType: string; input: string; config: string }
    expect(report).toMatchObject({ output: 'hello_deepa.onnx', bitNum: 8, quantType: 'WEIGHT_QUANT' })
    expect(report.input).toMatch(/models\/hello_deepa\.onnx$/)
    expect(report.config).toMatch(/models\/hello_deepa\.onnx\.cfg$/)
    const html = first.get('quantize-report.html')!.toString('utf8')
    expect(html).toContain('hello_deepa.onnx')
    expect(html).toContain('other.onnx')
    expect(stream.api.stats()).toEqual({ quantized: 1, reused: 0, passedThrough: 1, failed: 0, running: 0, onWorkerThread: 1 })
  })

  it('serves the second run from the cache', async () => {
    const stream = plugin()
    const second = await gulpRun(stream, path.join(dir, 'out2'))
    expect(stream.api.stats()).toEqual({ quantized: 0, reused: 1, passedThrough: 1, failed: 0, running: 0, onWorkerThread: 0 })
    expect(second.get('hello_deepa.onnx')!.equals(first.get('hello_deepa.onnx')!)).toBe(true)
  })

  it('explains that gulp 5 must read models with { encoding: false }', async () => {
    const err = await gulpRun(plugin(), path.join(dir, 'out3'), {}).then(() => null, (e: unknown) => e)
    expect(err).toMatchObject({ plugin: 'unplugin-quantize', fileName: path.join(srcDir, 'hello_deepa.onnx') })
    expect((err as Error).message).toContain('hello_deepa.onnx')
    expect((err as Error).message).toContain('encoding: false')
  })

  it('quantizes up to concurrency models at once and passes files on in the order they came', async () => {
    // the first is the slowest (PP-OCR cls against two small wake-word models): the others finish first
    const cls = MODELS.cls
    const files = [cls, path.join(srcDir, 'other.onnx'), path.join(srcDir, 'hello_deepa.onnx')].map((file, i) => {
      // distinct bytes, so none shares another's work
      const m = decodeModelProto(fs.readFileSync(file))
      m.doc_string = `copy ${i}`
      return new Vinyl({ cwd: dir, base: srcDir, path: path.join(srcDir, `m${i}.onnx`), contents: Buffer.from(encodeModelProto(m)) })
    })
    const stream = plugin({ cache: false, concurrency: 2, defaultConfig: { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } } })
    // counted where each quantization starts and ends (the plugin's call into the worker pool),
    // not sampled on a timer, which could miss a short peak
    const poolRun = WorkerPool.prototype.run
    let running = 0
    let most = 0
    let started = 0
    const spy = vi.spyOn(WorkerPool.prototype, 'run').mockImplementation(async function (this: WorkerPool, ...args: Parameters<WorkerPool['run']>) {
      started++
      most = Math.max(most, ++running)
      try {
        return await poolRun.apply(this, args)
      } finally {
        running--
      }
    })
    try {
      const out = await collect(stream, files)
      expect(out.map((f) => f.relative)).toEqual(['m0.onnx', 'm0.quant.json', 'm1.onnx', 'm1.quant.json', 'm2.onnx', 'm2.quant.json', 'quantize-report.html'])
    } finally {
      spy.mockRestore()
    }
    expect(started).toBe(3)
    expect(most).toBe(2)
    expect(stream.api.stats().quantized).toBe(3)
  })

  it('holds at most concurrency files while a slow one is in work (backpressure)', async () => {
    const cls = MODELS.cls
    const model = new Vinyl({ cwd: dir, base: srcDir, path: path.join(srcDir, 'slow.onnx'), contents: fs.readFileSync(cls) })
    const stream = plugin({ cache: false, concurrency: 2, defaultConfig: { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } } })
    let accepted = 0
    // a writer that waits for each write's callback, as pipe() does once the buffer is full
    const writeOne = (f: Vinyl) => new Promise<void>((resolve) => stream.write(f, () => { accepted++; resolve() }))
    const writes = [writeOne(model), ...Array.from({ length: 20 }, (_, i) => writeOne(new Vinyl({ cwd: dir, base: srcDir, path: path.join(srcDir, `data${i}.bin`), contents: Buffer.alloc(1024) })))]
    await until('the slow model to start', () => stream.api.stats().running > 0)
    await new Promise((r) => setTimeout(r, 100))
    // while the model runs: it and one file behind it, no more; the rest wait in the writable buffer
    expect(stream.api.stats().running).toBe(1)
    expect(accepted).toBeLessThanOrEqual(2)
    expect(stream.writableLength).toBeGreaterThanOrEqual(19)
    const out: Vinyl[] = []
    stream.on('data', (f: Vinyl) => out.push(f))
    await Promise.all(writes)
    await new Promise<void>((resolve) => stream.end(resolve))
    expect(out.map((f) => f.relative).slice(0, 3)).toEqual(['slow.onnx', 'slow.quant.json', 'data0.bin'])
    expect(out).toHaveLength(23)
  })

  it('a model renamed upstream keeps the cfg it had where src() read it', async () => {
    const file = new Vinyl({ cwd: dir, base: srcDir, path: path.join(srcDir, 'hello_deepa.onnx'), contents: fs.readFileSync(path.join(srcDir, 'hello_deepa.onnx')) })
    // as gulp-rename does
    file.path = path.join(srcDir, 'wake', 'model.onnx')
    const stream = plugin()
    const out = await collect(stream, [file])
    expect(out.map((f) => f.relative)).toEqual([path.join('wake', 'model.onnx'), path.join('wake', 'model.quant.json'), 'quantize-report.html'])
    expect((out[0]!.contents as Buffer).equals(fs.readFileSync(FLOAT))).toBe(false)
    expect(stream.api.stats().passedThrough).toBe(0)
  })

  it('passes null files through', async () => {
    const file = new Vinyl({ cwd: dir, base: srcDir, path: path.join(srcDir, 'hello_deepa.onnx'), contents: null })
    const stream = plugin()
    const out = await collect(stream, [file])
    expect(out).toEqual([file])
    expect(stream.api.stats()).toEqual({ quantized: 0, reused: 0, passedThrough: 0, failed: 0, running: 0, onWorkerThread: 0 })
  })

  it('rejects streaming files with a PluginError naming the file', async () => {
    const file = new Vinyl({ cwd: dir, base: srcDir, path: path.join(srcDir, 'hello_deepa.onnx'), contents: Readable.from([fs.readFileSync(FLOAT)]) })
    const err = await collect(plugin(), [file]).then(() => null, (e: unknown) => e)
    expect(err).toMatchObject({ plugin: 'unplugin-quantize', fileName: file.path })
    expect((err as Error).message).toMatch(/streaming is not supported: .*hello_deepa\.onnx/)
  })

  describe('with a broken cfg', () => {
    let model: string
    beforeAll(() => {
      const broken = path.join(dir, 'broken')
      fs.mkdirSync(broken)
      model = path.join(broken, 'm.onnx')
      fs.copyFileSync(FLOAT, model)
      fs.copyFileSync(path.join(fixtures, 'broken.cfg'), path.join(broken, 'm.cfg'))
    })
    const file = () => new Vinyl({ cwd: dir, base: path.dirname(model), path: model, contents: fs.readFileSync(model) })

    it('fails with a PluginError naming the model and the cfg', async () => {
      const stream = plugin()
      const err = await collect(stream, [file()]).then(() => null, (e: unknown) => e)
      expect(err).toMatchObject({ plugin: 'unplugin-quantize', fileName: model })
      expect((err as Error).message).toContain('m.onnx')
      expect((err as Error).message).toContain('m.cfg')
      expect((err as Error).message).toContain('bit_num')
      expect(stream.api.stats().failed).toBe(1)
    })

    it("passes the original on with onError: 'warn'", async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
      try {
        const input = file()
        const original = Buffer.from(input.contents as Buffer)
        const out = await collect(plugin({ onError: 'warn' }), [input])
        expect(out.map((f) => f.relative)).toEqual(['m.onnx', 'quantize-report.html'])
        expect((out[0]!.contents as Buffer).equals(original)).toBe(true)
        expect(warn.mock.calls.flat().join('\n')).toMatch(/m\.cfg/)
      } finally {
        warn.mockRestore()
      }
    })
  })

  it('validates options when created', () => {
    expect(() => quantize({ onError: 'ignore' as 'warn' })).toThrow(/onError/)
  })
})

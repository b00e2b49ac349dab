// Quantization runs on worker threads bounded by `concurrency`: the Vite dev server answers
// requests while a large model quantizes, jobs beyond the bound wait their turn, engine errors
// cross the thread boundary intact, and the compiled worker entry resolves from dist/.
import fs from 'node:fs'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { threadId, Worker } from 'node:worker_threads'
import { createLogger, createServer, type ViteDevServer } from 'vite'
import { QUIET_MS } from '../plugins/core/progress-reporter.js'
import { afterAll, describe, expect, it } from 'vitest'
import quantize, { type QuantizePluginApi } from '../plugins/vite.js'
import { WorkerPool } from '../plugins/core/worker-pool.js'
import { loadCfg } from '../src/cfg/index.js'
import { QuantizeError } from '../src/errors.js'
import { FLOAT } from './helpers/bundler-build.js'
import { MODELS } from './helpers/models.js'
import { until } from './helpers/until.js'

const here = import.meta.dirname
const DET = MODELS.det

const tmp: string[] = []
afterAll(() => {
  for (const d of tmp) fs.rmSync(d, { recursive: true, force: true })
})

function tempDir(prefix: string): string {
  fs.mkdirSync(path.join(here, '.tmp'), { recursive: true })
  const dir = fs.mkdtempSync(path.join(here, `.tmp/${prefix}-`))
  tmp.push(dir)
  return dir
}

function weightCfg(dir: string, name: string, bits: number | string): string {
  const file = path.join(dir, name)
  fs.writeFileSync(file, `[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=${bits}\n`)
  return file
}

describe('quantization off the main thread', () => {
  let server: ViteDevServer | undefined
  afterAll(async () => {
    await server?.close()
  })

  it('the vite dev server answers requests while a large model quantizes', async () => {
    const dir = tempDir('worker-dev')
    fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script>\n')
    fs.writeFileSync(path.join(dir, 'main.js'), "import det from './det.onnx'\nexport default det\n")
    fs.copyFileSync(DET, path.join(dir, 'det.onnx'))
    weightCfg(dir, 'det.onnx.cfg', 8)
    // verify: the engine also runs fp32 and int8 in onnxruntime-node, the longest job we have
    const plugin = quantize({ cacheDir: '.cache', verify: true, concurrency: 1 })
    const api = plugin.api as QuantizePluginApi
    const infos: string[] = []
    server = await createServer({
      root: dir,
      configFile: false,
      customLogger: { ...createLogger('silent'), info: (msg) => void infos.push(msg) },
      plugins: [plugin],
      server: { host: '127.0.0.1', port: 0 },
      optimizeDeps: { noDiscovery: true, include: [] },
    })
    await server.listen()
    const origin = `http://127.0.0.1:${(server.httpServer!.address() as AddressInfo).port}`
    const get = (url: string) => fetch(new URL(url, origin))

    const main = await (await get('/main.js')).text()
    const id = /import \w+ from "([^"]*unplugin-quantize[^"]*)"/.exec(main)![1]!
    // loading the model's module starts its quantization; the response comes when it is done
    const events: string[] = []
    const modelModule = get(id).then(async (res) => {
      events.push('model module answered')
      return res.text()
    })
    await until('the quantization to start', () => api.stats().running === 1, { timeoutMs: 60_000 })
    events.push('quantization running')
    let answered = 0
    let index = ''
    while (api.stats().running === 1 && answered < 5) {
      const res = await get(answered % 2 === 0 ? '/__quantize/' : '/index.html')
      expect(res.status).toBe(200)
      const text = await res.text()
      if (answered === 0) index = text
      if (api.stats().running === 1) {
        answered++
        events.push('request answered during quantization')
      }
    }
    // the index page does not wait for the model either: it says it is being quantized
    expect(index).toContain('det.onnx')
    expect(index).toContain('quantizing…')
    const code = await modelModule
    expect(code).toMatch(/export default "\/__quantize\/model\/[0-9a-f]{16}\/det\.onnx"/)
    expect(events.slice(0, 7)).toEqual([
      'quantization running',
      ...Array.from({ length: 5 }, () => 'request answered during quantization'),
      'model module answered',
    ])
    expect(api.stats()).toMatchObject({ quantized: 1, running: 0, onWorkerThread: 1 })
    // its progress went to Vite's logger, from the worker thread, once it ran long
    const reportUrl = /href="([^"]+\.quant\.json)"/.exec(await (await get('/__quantize/')).text())![1]!
    const { durationMs } = await (await get(reportUrl)).json() as { durationMs: number }
    const progress = infos.filter((m) => /^\[unplugin-quantize\] det\.onnx: .+ \(\d+\.\d s\)$/.test(m))
    // (the quiet period counts from the job's start, worker start-up included: only a job that
    // the engine alone kept busy past it is sure to have spoken; test/plugin-progress.test.ts
    // checks the quiet side)
    if (durationMs > QUIET_MS + 500) expect(progress.length, infos.join('\n')).toBeGreaterThan(0)
  })

  it('runs at most `concurrency` jobs at once, each on a worker thread', async () => {
    const dir = tempDir('worker-pool')
    const cfg = await loadCfg(weightCfg(dir, 'w8.cfg', 8))
    const logs: string[] = []
    const pool = new WorkerPool(1, (m) => logs.push(m))
    try {
      expect(pool.mode()).toEqual({ kind: 'worker' })
      const order: string[] = []
      const job = (name: string) => pool.run({ model: FLOAT, cfg, options: { verify: false } }, (message) => {
        if (message === 'reading model') order.push(`${name} started`)
      }).then((r) => {
        order.push(`${name} done`)
        return r
      })
      const [a, b] = await Promise.all([job('a'), job('b')])
      // one worker: b starts only after a is done, on the same thread, which is not this one
      expect(order).toEqual(['a started', 'a done', 'b started', 'b done'])
      expect(a.threadId).not.toBe(threadId)
      expect(a.threadId).toBe(b.threadId)
      expect(Buffer.from(a.result.model).equals(Buffer.from(b.result.model))).toBe(true)
      expect(logs).toEqual([])
    } finally {
      await pool.close()
    }
    const two = new WorkerPool(2, () => undefined)
    try {
      const running = new Set<string>()
      let overlap = false
      const job = (name: string) => two.run({ model: FLOAT, cfg, options: { verify: false } }, (message) => {
        if (message === 'reading model') running.add(name)
        if (running.size === 2) overlap = true
      })
      const [a, b] = await Promise.all([job('a'), job('b')])
      expect(a.threadId).not.toBe(b.threadId)
      expect(overlap).toBe(true)
    } finally {
      await two.close()
    }
  })

  it("a failure in the worker is the engine's error, naming the file", async () => {
    const dir = tempDir('worker-error')
    const bad = path.join(dir, 'not-a-model.onnx')
    fs.writeFileSync(bad, 'this is not a protobuf')
    const cfg = await loadCfg(weightCfg(dir, 'w8.cfg', 8))
    const pool = new WorkerPool(1, () => undefined)
    try {
      const err = await pool.run({ model: bad, cfg, options: { verify: false } }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(QuantizeError)
      expect((err as QuantizeError).file).toBe(bad)
      expect((err as Error).message).toContain('not-a-model.onnx')
      // the worker survived its job's failure and takes the next one
      const ok = await pool.run({ model: FLOAT, cfg, options: { verify: false } })
      expect(ok.threadId).not.toBe(threadId)
    } finally {
      await pool.close()
    }
  })

  it('a worker that cannot start falls back to the main thread, once, saying why', async () => {
    const dir = tempDir('worker-fallback')
    const cfg = await loadCfg(weightCfg(dir, 'w8.cfg', 8))
    const logs: string[] = []
    const pool = new WorkerPool(1, (m) => logs.push(m), () => new Worker('throw new Error("no engine here")', { eval: true }))
    try {
      const [a, b] = await Promise.all([1, 2].map(() => pool.run({ model: FLOAT, cfg, options: { verify: false } })))
      expect([a!.threadId, b!.threadId]).toEqual([0, 0])
      expect(a!.result.model.byteLength).toBeLessThan(fs.statSync(FLOAT).size / 2)
      expect(pool.mode()).toMatchObject({ kind: 'main-thread', reason: expect.stringContaining('no engine here') })
      expect(logs).toHaveLength(1)
      expect(logs[0]).toMatch(/^quantizing on the main thread: the quantize worker did not start \(.*no engine here/)
    } finally {
      await pool.close()
    }
  })

  // `npm test` builds dist first; a bare vitest run before any build skips this
  const distPool = path.join(here, '../dist/plugins/core/worker-pool.js')
  it.skipIf(!fs.existsSync(distPool))('the compiled pool (dist/) starts its compiled worker entry', async () => {
    const { WorkerPool: DistPool } = await import(distPool) as { WorkerPool: typeof WorkerPool }
    const dir = tempDir('worker-dist')
    const cfg = await loadCfg(weightCfg(dir, 'w8.cfg', 8))
    const logs: string[] = []
    const pool = new DistPool(1, (m) => logs.push(m))
    try {
      const r = await pool.run({ model: FLOAT, cfg, options: { verify: false } })
      expect(pool.mode()).toEqual({ kind: 'worker' })
      expect(r.threadId).not.toBe(threadId)
      expect(r.result.model.byteLength).toBeLessThan(fs.statSync(FLOAT).size / 2)
      expect(logs).toEqual([])
    } finally {
      await pool.close()
    }
  })
})

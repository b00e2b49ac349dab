import type { Worker } from 'node:worker_threads'
import type { QuantConfig } from '../../src/cfg/index.js'
import { QuantizeError } from '../../src/errors.js'
import { quantizeModel, type QuantizeResult } from '../../src/quantize-model.js'
import { workerStart, type WorkerStart } from '../../src/runtime/worker-start.js'
import { rankingThreadShare } from './thread-share.js'
import type { WorkerError, WorkerJob, WorkerMessage } from './worker-protocol.js'

/** One `quantizeModel` call for the pool. */
export interface PoolJob {
  model: string | Uint8Array
  cfg: QuantConfig
  /** `threads` unset: the pool gives the job its share of the cores when it starts. */
  options: { verify: boolean; threads?: number }
}

export interface PoolResult {
  result: QuantizeResult
  /** The worker's threadId, 0 when the job ran on the main thread (the fallback). */
  threadId: number
}

interface Pending {
  job: PoolJob
  id: number
  onProgress: (message: string) => void
  resolve: (result: PoolResult) => void
  reject: (err: unknown) => void
}

interface Slot {
  worker: Worker
  /** Set by the worker's 'ready' message: from then on a failure is the job's, not the start's. */
  started: boolean
  current: Pending | null
  idleTimer: NodeJS.Timeout | null
}

// an idle worker holds the engine and onnxruntime in memory: let it go after a while
const IDLE_MS = 30_000

const shared = new Map<number, WorkerPool>()

/**
 * The process's pool of `size` workers, created on first use. Every plugin instance shares it
 * (Vite creates several; watch rebuilds, new gulp streams and dev refreshes create more), so
 * they reuse warm workers and together stay within `concurrency`. Idle workers stop by
 * themselves and never keep the process alive, so nobody needs to close it.
 */
export function sharedPool(size: number, log: (message: string) => void): WorkerPool {
  let pool = shared.get(size)
  if (!pool) {
    pool = new WorkerPool(size, log)
    shared.set(size, pool)
  }
  return pool
}

function rebuildError(e: WorkerError): Error {
  let err: Error
  if (e.file !== undefined) {
    // a QuantizeError on this side whatever its class there: its message already names the file
    err = new QuantizeError(e.file, '', (e.code ?? 'input') as QuantizeError['code'])
    err.message = e.message
  } else {
    err = new Error(e.message)
    err.name = e.name
  }
  if (e.stack) err.stack = e.stack
  return err
}

const label = (model: string | Uint8Array): string => (typeof model === 'string' ? model : '<model bytes>')

/**
 * Runs quantizations on up to `size` worker threads, so the process that hosts the bundler (and
 * Vite's dev server) keeps answering while models quantize. Workers start on first use, are
 * reused, and are released after being idle; an idle worker never keeps the process alive.
 * When workers cannot start at all, jobs run on the main thread and the reason is logged once.
 */
export class WorkerPool {
  private readonly slots = new Set<Slot>()
  private readonly idle: Slot[] = []
  private readonly queue: Pending[] = []
  private nextId = 1
  private fallback: string | null
  private start: (() => Worker) | null
  private closed = false
  /** Jobs running on the main thread (the fallback), counted for the thread share. */
  private runningHere = 0

  /** `start` replaces how a worker is started (the tests start one that cannot load). */
  constructor(private readonly size: number, private readonly log: (message: string) => void, start?: () => Worker) {
    const how: WorkerStart = start ? { ok: true, start } : workerStart(import.meta.url, 'quantize-worker')
    this.start = how.ok ? how.start : null
    this.fallback = how.ok ? null : how.reason
    if (!how.ok) this.log(`quantizing on the main thread: ${how.reason}`)
  }

  /** 'worker' until workers turned out not to start; then 'main-thread' with the reason. */
  mode(): { kind: 'worker' } | { kind: 'main-thread'; reason: string } {
    return this.fallback === null ? { kind: 'worker' } : { kind: 'main-thread', reason: this.fallback }
  }

  run(job: PoolJob, onProgress: (message: string) => void = () => undefined): Promise<PoolResult> {
    return new Promise<PoolResult>((resolve, reject) => {
      const pending: Pending = { job, id: this.nextId++, onProgress, resolve, reject }
      if (this.fallback !== null || this.closed) return this.runHere(pending)
      this.queue.push(pending)
      this.pump()
    })
  }

  /** Stop every worker (a running job fails). */
  async close(): Promise<void> {
    this.closed = true
    const slots = [...this.slots]
    this.slots.clear()
    this.idle.length = 0
    const stopped = new Error('the quantize worker pool was closed')
    for (const p of [...slots.flatMap((s) => (s.current ? [s.current] : [])), ...this.queue.splice(0)]) p.reject(stopped)
    const workers = slots.map((s) => s.worker)
    await Promise.all(workers.map((w) => w.terminate()))
  }

  private runHere(p: Pending): void {
    this.runningHere++
    const threads = p.job.options.threads ?? rankingThreadShare(this.runningHere)
    quantizeModel(p.job.model, p.job.cfg, { ...p.job.options, threads, onProgress: p.onProgress })
      .finally(() => this.runningHere--)
      .then((result) => p.resolve({ result, threadId: 0 }), p.reject)
  }

  private pump(): void {
    // a model's share is fixed when it starts: the cores divided by the models running then
    // (itself and any queued behind it that start now)
    const running = Math.min(this.size, this.busy() + this.queue.length)
    while (this.queue.length > 0) {
      let slot = this.idle.pop()
      if (!slot && this.slots.size < this.size && this.start) slot = this.spawn(this.start)
      if (!slot) return
      this.assign(slot, this.queue.shift()!, running)
    }
  }

  private busy(): number {
    let n = 0
    for (const s of this.slots) if (s.current) n++
    return n
  }

  private assign(slot: Slot, p: Pending, running: number): void {
    if (slot.idleTimer) clearTimeout(slot.idleTimer)
    slot.idleTimer = null
    slot.current = p
    // a busy worker keeps the process alive (the bundler awaits its result)
    slot.worker.ref()
    const options = { verify: p.job.options.verify, threads: p.job.options.threads ?? rankingThreadShare(running) }
    const message: WorkerJob = { id: p.id, model: p.job.model, cfg: p.job.cfg, options }
    slot.worker.postMessage(message)
  }

  private spawn(start: () => Worker): Slot {
    const slot: Slot = { worker: start(), started: false, current: null, idleTimer: null }
    this.slots.add(slot)
    const w = slot.worker
    w.on('message', (m: WorkerMessage) => this.onMessage(slot, m))
    w.on('error', (err: Error) => this.onFailure(slot, err))
    w.on('exit', (code) => this.onFailure(slot, new Error(`the quantize worker exited with code ${code}`)))
    return slot
  }

  private onMessage(slot: Slot, m: WorkerMessage): void {
    if (m.type === 'ready') {
      slot.started = true
      return
    }
    const p = slot.current
    if (!p || p.id !== m.id) return
    if (m.type === 'progress') return p.onProgress(m.message)
    slot.current = null
    if (m.type === 'done') p.resolve({ result: m.result, threadId: m.threadId })
    else p.reject(rebuildError(m.error))
    this.release(slot)
  }

  private release(slot: Slot): void {
    if (this.closed || !this.slots.has(slot)) return
    slot.worker.unref()
    slot.idleTimer = setTimeout(() => {
      const i = this.idle.indexOf(slot)
      if (i >= 0) this.idle.splice(i, 1)
      this.slots.delete(slot)
      void slot.worker.terminate()
    }, IDLE_MS)
    slot.idleTimer.unref()
    this.idle.push(slot)
    this.pump()
  }

  /** The worker died ('error' then 'exit', or just 'exit'); only the first report counts. */
  private onFailure(slot: Slot, err: Error): void {
    if (!this.slots.has(slot)) return
    this.slots.delete(slot)
    if (slot.idleTimer) clearTimeout(slot.idleTimer)
    const i = this.idle.indexOf(slot)
    if (i >= 0) this.idle.splice(i, 1)
    const p = slot.current
    slot.current = null
    if (!slot.started && !this.closed) {
      // the worker could not even load the engine: quantize here from now on, and say why
      this.fallback = `the quantize worker did not start (${err.message})`
      this.start = null
      this.log(`quantizing on the main thread: ${this.fallback}`)
      const waiting = [...(p ? [p] : []), ...this.queue.splice(0)]
      for (const w of waiting) this.runHere(w)
      return
    }
    if (p) p.reject(new QuantizeError(label(p.job.model), `the quantize worker stopped while quantizing it: ${err.message}`, 'runtime', { cause: err }))
    this.pump()
  }
}

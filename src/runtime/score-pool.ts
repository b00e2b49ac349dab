import type { Worker } from 'node:worker_threads'
import type { Feeds } from './feeds.js'
import type { PlainFeeds, ScoreReply, ScoreRequest } from './score-protocol.js'
import type { FedTensor, ReferenceOutputs } from './variant-score.js'
import { workerStart } from './worker-start.js'

/** A copy in a SharedArrayBuffer. */
function shared(data: Float32Array): Float32Array {
  const copy = new Float32Array(new SharedArrayBuffer(data.byteLength))
  copy.set(data)
  return copy
}

interface Job {
  id: number
  changed: Record<string, Float32Array>
  count: number
  resolve: (score: number) => void
  reject: (err: Error) => void
}

interface Slot {
  worker: Worker
  job: Job | null
}

/**
 * Worker threads that score model variants (src/runtime/variant-score.ts) side by side: the
 * accuracy target scores a variant per weight, and onnxruntime-node runs one session's work at a
 * time per thread. Each worker gets the model (its weights as inputs), their float values, the
 * samples and the reference outputs once, creates its own session, and then receives only the
 * values each variant changes.
 * A score is the same number on any worker as on the calling thread (one intra-op thread per
 * session), so how many workers run changes the time, never the result.
 */
export class ScorePool {
  private readonly slots: Slot[] = []
  private readonly queue: Job[] = []
  private nextId = 1
  private failure: Error | null = null
  private done = 0

  private constructor(start: () => Worker, size: number, model: Uint8Array, floats: Record<string, FedTensor>, samples: readonly Feeds[], reference: ReferenceOutputs) {
    // Reference outputs go once into shared memory that every worker reads in place (copies cost
    // PP-OCRv4 det's 640x640 outputs 13 MB a worker). Inputs cannot: onnxruntime-node aborts the
    // process on a tensor over a SharedArrayBuffer, so each worker gets its own copy.
    const plain: PlainFeeds[] = samples.map((f) => Object.fromEntries(Object.entries(f).map(([n, t]) => [n, { type: t.type, data: t.data, dims: t.dims }])))
    const sharedReference: ReferenceOutputs = reference.map((r) => Object.fromEntries(Object.entries(r).map(([n, d]) => [n, d && shared(d)])))
    try {
      for (let i = 0; i < size; i++) {
        const slot: Slot = { worker: start(), job: null }
        this.slots.push(slot)
        slot.worker.on('message', (m: ScoreReply) => this.onReply(slot, m))
        slot.worker.on('messageerror', (err: Error) => this.fail(slot, err))
        slot.worker.on('error', (err: Error) => this.fail(slot, err))
        slot.worker.on('exit', (code) => this.fail(slot, new Error(`a scoring worker exited with code ${code}`)))
        slot.worker.postMessage({ type: 'init', model, floats, samples: plain, reference: sharedReference } satisfies ScoreRequest)
      }
    } catch (err) {
      // workers already started would otherwise run on, unreferenced, and keep the process alive
      for (const s of this.slots.splice(0)) void s.worker.terminate()
      throw err
    }
  }

  /**
   * `size` workers, or null when they cannot start here (the caller scores on its own thread).
   * `start` replaces how a worker is started (the tests start ones that fail).
   */
  static open(size: number, model: Uint8Array, floats: Record<string, FedTensor>, samples: readonly Feeds[], reference: ReferenceOutputs, start?: () => Worker): ScorePool | null {
    const how: ReturnType<typeof workerStart> = start ? { ok: true, start } : workerStart(import.meta.url, 'score-worker')
    if (!how.ok) return null
    try {
      return new ScorePool(how.start, size, model, floats, samples, reference)
    } catch {
      return null
    }
  }

  /** Scores the workers returned so far. */
  get scored(): number {
    return this.done
  }

  /**
   * The score of the variant with `changed` values in those inputs; rejects once any worker has
   * failed (then every later call does too).
   */
  score(changed: Record<string, Float32Array>, count: number): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure)
      // a clone carries a view's whole buffer: a view into the model's bytes would copy the model
      const own = Object.fromEntries(Object.entries(changed).map(([n, v]) => [n, v.byteLength === v.buffer.byteLength ? v : v.slice()]))
      this.queue.push({ id: this.nextId++, changed: own, count, resolve, reject })
      this.pump()
    })
  }

  async close(): Promise<void> {
    this.failure ??= new Error('the scoring pool was closed')
    for (const job of [...this.slots.flatMap((s) => (s.job ? [s.job] : [])), ...this.queue.splice(0)]) job.reject(this.failure)
    const workers = this.slots.map((s) => s.worker)
    this.slots.length = 0
    await Promise.all(workers.map((w) => w.terminate()))
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.job || this.queue.length === 0) continue
      const job = this.queue.shift()!
      slot.job = job
      slot.worker.postMessage({ type: 'score', id: job.id, changed: job.changed, count: job.count } satisfies ScoreRequest)
    }
  }

  private onReply(slot: Slot, m: ScoreReply): void {
    const job = slot.job
    if (!job || job.id !== m.id) return
    slot.job = null
    if (m.type === 'scored') {
      this.done++
      job.resolve(m.score)
    }
    else job.reject(new Error(m.message))
    this.pump()
  }

  private fail(slot: Slot, err: Error): void {
    if (!this.slots.includes(slot)) return
    this.failure ??= err
    slot.job?.reject(err)
    slot.job = null
    for (const job of this.queue.splice(0)) job.reject(err)
  }
}

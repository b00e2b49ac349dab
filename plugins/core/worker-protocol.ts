import type { QuantConfig } from '../../src/cfg/index.js'
import type { QuantizeResult } from '../../src/quantize-model.js'

/** What a worker is asked to do: one `quantizeModel` call. Plain data (structured clone). */
export interface WorkerJob {
  id: number
  /** A path (the worker reads the file and its external data) or the model's bytes. */
  model: string | Uint8Array
  cfg: QuantConfig
  /** `threads`: the ranking threads this job may use (its share of the cores, or the user's). */
  options: { verify: boolean; threads: number }
}

/** An error as it crosses the thread boundary: enough to rebuild the message the user sees. */
export interface WorkerError {
  name: string
  message: string
  stack: string | undefined
  /** QuantizeError's fields, when it was one. */
  file?: string
  code?: string
}

export type WorkerMessage =
  /** The worker loaded the engine and takes jobs. */
  | { type: 'ready'; threadId: number }
  | { type: 'progress'; id: number; message: string }
  /** The engine's whole result (plain data: it is cloned, the model's bytes are transferred). */
  | { type: 'done'; id: number; result: QuantizeResult; threadId: number }
  | { type: 'failed'; id: number; error: WorkerError }

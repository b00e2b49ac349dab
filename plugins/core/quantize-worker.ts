// Worker thread entry (see worker-pool.ts): runs the engine's quantizeModel for one job at a
// time, so the bundler's event loop (the Vite dev server above all) stays free while it works.
import { parentPort, threadId } from 'node:worker_threads'
import { QuantizeError } from '../../src/errors.js'
import { quantizeModel } from '../../src/quantize-model.js'
import type { WorkerError, WorkerJob, WorkerMessage } from './worker-protocol.js'

const port = parentPort
if (!port) throw new Error('quantize-worker is a worker thread entry, not a module to import')

const post = (message: WorkerMessage, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer)

function toWorkerError(err: unknown): WorkerError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err), stack: undefined }
  const out: WorkerError = { name: err.name, message: err.message, stack: err.stack }
  // QuantizeError (CfgError and ModelFileError among them) names its file
  const file = (err as { file?: unknown }).file
  if (typeof file === 'string') out.file = file
  if (err instanceof QuantizeError) out.code = err.code
  return out
}

/** A copy that owns its whole buffer, so it can be transferred instead of cloned. */
function owned(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes as Uint8Array<ArrayBuffer>
  return new Uint8Array(bytes)
}

port.on('message', (job: WorkerJob) => {
  quantizeModel(job.model, job.cfg, { ...job.options, onProgress: (message) => post({ type: 'progress', id: job.id, message }) }).then(
    (result) => {
      const model = owned(result.model)
      const external = result.externalData ? { location: result.externalData.location, bytes: owned(result.externalData.bytes) } : null
      post(
        { type: 'done', id: job.id, result: { ...result, model, externalData: external }, threadId },
        external ? [model.buffer, external.bytes.buffer] : [model.buffer],
      )
    },
    (err: unknown) => post({ type: 'failed', id: job.id, error: toWorkerError(err) }),
  )
})

post({ type: 'ready', threadId })

// Worker thread entry (see score-pool.ts): scores model variants against reference outputs, one
// onnxruntime session at a time, so that several workers rank weights side by side.
import ort from 'onnxruntime-node'
import { parentPort } from 'node:worker_threads'
import type { Feeds } from './feeds.js'
import type { ScoreReply, ScoreRequest, PlainFeeds } from './score-protocol.js'
import { scoreVariant, type ReferenceOutputs } from './variant-score.js'

const port = parentPort
if (!port) throw new Error('score-worker is a worker thread entry, not a module to import')

let samples: Feeds[] = []
let reference: ReferenceOutputs = []

// the Tensor constructor's overloads pair each type with its data array; a clone carries them as a
// pair the compiler cannot see, so one cast stands for any matching pair
const toFeeds = (plain: PlainFeeds): Feeds =>
  Object.fromEntries(Object.entries(plain).map(([name, t]) => [name, new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims)]))

port.on('message', (m: ScoreRequest) => {
  if (m.type === 'init') {
    samples = m.samples.map(toFeeds)
    reference = m.reference
    return
  }
  scoreVariant(m.model, samples, reference, m.count).then(
    (score) => port.postMessage({ type: 'scored', id: m.id, score } satisfies ScoreReply),
    (err: unknown) => port.postMessage({ type: 'failed', id: m.id, message: err instanceof Error ? err.message : String(err) } satisfies ScoreReply),
  )
})

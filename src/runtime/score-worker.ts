// Worker thread entry (see score-pool.ts): scores model variants against reference outputs in
// one onnxruntime session of its own, so that several workers rank weights side by side.
import ort from 'onnxruntime-node'
import { parentPort } from 'node:worker_threads'
import type { Feeds } from './feeds.js'
import type { ScoreReply, ScoreRequest, PlainFeeds } from './score-protocol.js'
import { VariantScorer, type ReferenceOutputs } from './variant-score.js'

const port = parentPort
if (!port) throw new Error('score-worker is a worker thread entry, not a module to import')

let samples: Feeds[] = []
let reference: ReferenceOutputs = []
let scorer: Promise<VariantScorer> | null = null

// the Tensor constructor's overloads pair each type with its data array; a clone carries them as a
// pair the compiler cannot see, so one cast stands for any matching pair
const toFeeds = (plain: PlainFeeds): Feeds =>
  Object.fromEntries(Object.entries(plain).map(([name, t]) => [name, new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims)]))

port.on('message', (m: ScoreRequest) => {
  if (m.type === 'init') {
    samples = m.samples.map(toFeeds)
    reference = m.reference
    // a session that cannot be created fails every job with its message
    scorer = VariantScorer.create(m.model, m.floats)
    scorer.catch(() => {})
    return
  }
  if (!scorer) {
    port.postMessage({ type: 'failed', id: m.id, message: 'the scoring worker got a job before its model' } satisfies ScoreReply)
    return
  }
  scorer.then((s) => s.score(m.changed, samples, reference, m.count)).then(
    (score) => port.postMessage({ type: 'scored', id: m.id, score } satisfies ScoreReply),
    (err: unknown) => port.postMessage({ type: 'failed', id: m.id, message: err instanceof Error ? err.message : String(err) } satisfies ScoreReply),
  )
})

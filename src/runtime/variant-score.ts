import ort from 'onnxruntime-node'
import { cosineSimilarity } from './cosine.js'
import type { Feeds } from './feeds.js'

/** Per sample, each output's float32 data; other outputs are not compared (null). */
export type ReferenceOutputs = Record<string, Float32Array | null>[]

/**
 * One thread per session: scores are compared across sessions, so each must compute the same
 * floats whichever thread or worker runs it, and several sessions may run side by side.
 */
export const SCORE_SESSION_OPTIONS: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 4 }

/** The outputs of `model` on every sample, kept as what scoreVariant compares against. */
export async function referenceOutputs(model: Uint8Array, samples: readonly Feeds[]): Promise<ReferenceOutputs> {
  const session = await ort.InferenceSession.create(model, SCORE_SESSION_OPTIONS)
  const out: ReferenceOutputs = []
  try {
    for (const feeds of samples) {
      const result = await session.run(feeds)
      out.push(Object.fromEntries(session.outputNames.map((name) => {
        const data = result[name]!.data
        return [name, data instanceof Float32Array ? data : null]
      })))
    }
  } finally {
    await session.release()
  }
  return out
}

/**
 * Mean over the first `count` samples of the worst float output's cosine vs the reference: how
 * close a variant of the model (weights replaced by their decoded values) stays to the original.
 */
export async function scoreVariant(model: Uint8Array, samples: readonly Feeds[], reference: ReferenceOutputs, count: number): Promise<number> {
  const session = await ort.InferenceSession.create(model, SCORE_SESSION_OPTIONS)
  try {
    let sum = 0
    for (let i = 0; i < count; i++) {
      const out = await session.run(samples[i]!)
      let worst = 1
      for (const name of session.outputNames) {
        const a = reference[i]![name]
        const b = out[name]!.data
        if (a && b instanceof Float32Array) worst = Math.min(worst, cosineSimilarity(a, b))
      }
      sum += worst
    }
    return sum / count
  } finally {
    await session.release()
  }
}

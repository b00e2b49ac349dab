import ort from 'onnxruntime-node'
import type { Feeds } from './feeds.js'
import { tensorOutputs } from './tensor-outputs.js'

/** The tensor outputs a model gave on fixed samples: `outputs[k][j]` is `fetch[j]` on sample k. */
export interface RecordedOutputs<T> {
  /** the model's tensor outputs, in the session's order */
  fetch: string[]
  outputs: T[][]
}

/**
 * Run `model` once on each of `samples` in one session and keep every tensor output as `convert`
 * makes it: the float model's outputs, which candidates are then compared with without running it
 * again (compare-models.ts RecordedReference, FULL_QUANT's OutputJudge, the accuracy target's
 * variant scores). onnxruntime gives the same outputs for the same model, inputs and session
 * options, so a recording stands for the model on those samples. Throws NoTensorOutputs when the
 * model has no tensor output.
 */
export async function recordOutputs<T>(model: string | Uint8Array, samples: readonly Feeds[], options: ort.InferenceSession.SessionOptions, convert: (t: ort.Tensor) => T): Promise<RecordedOutputs<T>> {
  const session = await openSession(model, options)
  try {
    const fetch = tensorOutputs(session)
    const outputs: T[][] = []
    for (const feeds of samples) {
      const result = await session.run(feeds, fetch)
      outputs.push(fetch.map((name) => convert(result[name]!)))
    }
    return { fetch, outputs }
  } finally {
    await session.release()
  }
}

/** A session on a model file or its bytes (onnxruntime's two overloads, one call). */
export function openSession(model: string | Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options)
}

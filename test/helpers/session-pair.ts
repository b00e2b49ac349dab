import type ort from 'onnxruntime-node'
import { openSession } from '../../src/runtime/recorded-outputs.js'

/**
 * Run `work` with an onnxruntime session of `reference` and one of `candidate` (default session
 * options), releasing both afterwards, and the first when the second fails to load.
 */
export async function withSessionPair<T>(reference: string | Uint8Array, candidate: string | Uint8Array, work: (a: ort.InferenceSession, b: ort.InferenceSession) => Promise<T>): Promise<T> {
  const a = await openSession(reference, {})
  try {
    const b = await openSession(candidate, {})
    try {
      return await work(a, b)
    } finally {
      await b.release()
    }
  } finally {
    await a.release()
  }
}

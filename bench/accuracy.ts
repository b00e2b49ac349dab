// Phase 4: output cosine of quantized models vs fp32 on realistic inputs.
import ort from 'onnxruntime-node'
import { cosineSimilarity } from '../src/runtime/cosine.js'
import type { Feeds } from '../src/runtime/feeds.js'

export interface Accuracy {
  /** min over outputs of the mean cosine over samples (the library's report figure) */
  cosine: number
  /** the lowest cosine of any output on any single sample */
  worst: number
  /** mean cosine per output name */
  outputs: Record<string, number>
  samples: number
}

function numbers(t: ort.Tensor): ArrayLike<number> {
  const d = t.data
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float64Array.from(d, Number)
  if (Array.isArray(d)) return d.map(Number)
  return d as ArrayLike<number>
}

/** Cosine of each candidate's outputs vs the reference's, over `samples`. */
export async function compareOutputs(reference: Uint8Array, candidates: readonly Uint8Array[], samples: readonly Feeds[]): Promise<Accuracy[]> {
  const ref = await ort.InferenceSession.create(reference)
  const cands: ort.InferenceSession[] = []
  try {
    for (const c of candidates) cands.push(await ort.InferenceSession.create(c))
    const sums = cands.map(() => new Map<string, number>())
    const worst = cands.map(() => 1)
    for (const feeds of samples) {
      const want = await ref.run(feeds)
      for (const [i, s] of cands.entries()) {
        const got = await s.run(feeds)
        for (const name of ref.outputNames) {
          const cos = cosineSimilarity(numbers(want[name]!), numbers(got[name]!))
          sums[i]!.set(name, (sums[i]!.get(name) ?? 0) + cos)
          worst[i] = Math.min(worst[i]!, cos)
        }
      }
    }
    return sums.map((m, i) => {
      const outputs = Object.fromEntries([...m].map(([k, v]) => [k, v / samples.length]))
      return { cosine: Math.min(...Object.values(outputs)), worst: worst[i]!, outputs, samples: samples.length }
    })
  } finally {
    await ref.release()
    for (const s of cands) await s.release()
  }
}

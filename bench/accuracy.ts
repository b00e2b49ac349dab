// Phase 4: output cosine of quantized models vs fp32 on realistic inputs.
import ort from 'onnxruntime-node'
import type { Agreement } from './agreement.js'
import type { Feeds } from '../src/runtime/feeds.js'
import { numericData } from '../src/runtime/numeric-data.js'
import { comparedAcrossSamples, OutputCosines } from '../src/runtime/output-cosine.js'

export interface Accuracy {
  /** min over outputs of the mean cosine over samples, or the cosine across samples for an output of one element a sample (the library's report figure) */
  cosine: number
  /** the lowest cosine of any output compared per sample on any single sample (1 when every output is compared across samples) */
  worst: number
  /** cosine per output name, as in `cosine` */
  outputs: Record<string, number>
  samples: number
  /** per-sample decision agreement with fp32 summed (agreement.ts): samples deciding the same, or det's mask IoU */
  agreement: number
}

/** Cosine of each candidate's outputs vs the reference's, over `samples`, and how often they decide the same (`agreement`, on the first output). */
export async function compareOutputs(reference: Uint8Array, candidates: readonly Uint8Array[], samples: readonly Feeds[], agreement: Agreement['score']): Promise<Accuracy[]> {
  const ref = await ort.InferenceSession.create(reference)
  const cands: ort.InferenceSession[] = []
  try {
    for (const c of candidates) cands.push(await ort.InferenceSession.create(c))
    const cosines = cands.map(() => new OutputCosines())
    const worst = cands.map(() => 1)
    const agreed = cands.map(() => 0)
    const first = ref.outputNames[0]!
    for (const feeds of samples) {
      const want = await ref.run(feeds)
      for (const [i, s] of cands.entries()) {
        const got = await s.run(feeds)
        agreed[i]! += agreement(want[first]!, got[first]!)
        for (const name of ref.outputNames) {
          const x = numericData(want[name]!)
          const y = numericData(got[name]!)
          const cosine = cosines[i]!.add(name, x, y)
          if (!comparedAcrossSamples(x.length)) worst[i] = Math.min(worst[i]!, cosine)
        }
      }
    }
    return cosines.map((c, i) => {
      const outputs = Object.fromEntries(c.names().map((name) => [name, c.cosine(name)]))
      return { cosine: c.least(), worst: worst[i]!, outputs, samples: samples.length, agreement: agreed[i]! }
    })
  } finally {
    await ref.release()
    for (const s of cands) await s.release()
  }
}

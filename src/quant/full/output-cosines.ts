import ort from 'onnxruntime-node'
import { cosineSimilarity } from '../../runtime/cosine.js'
import { exactInt8Options } from '../../runtime/exact-int8.js'
import type { Feeds } from '../../runtime/feeds.js'
import { numericData } from '../../runtime/numeric-data.js'
import { recordOutputs } from '../../runtime/recorded-outputs.js'

/**
 * Judges candidate models against one reference on fixed samples: the reference's outputs are
 * computed once, then each candidate costs one session and one run per sample. Per-sample
 * cosines (the least over the outputs), not their mean: the float fallback and the
 * bias-correction check look at how the samples disagree (README, "How FULL_QUANT works").
 */
export class OutputJudge {
  private constructor(
    private readonly samples: Feeds[],
    private readonly reference: Map<string, ArrayLike<number>>[],
    /** Σ over samples of x² for each output of one element a sample (a score, a probability). */
    private readonly scalarEnergy: Map<string, number>,
  ) {}

  static async create(model: Uint8Array, samples: Feeds[]): Promise<OutputJudge> {
    const { fetch, outputs } = await recordOutputs(model, samples, SESSION, comparable)
    const reference = outputs.map((values) => new Map(fetch.flatMap((name, j) => (values[j] ? [[name, values[j]] as const] : []))))
    const scalarEnergy = new Map<string, number>()
    for (const name of fetch) {
      if (!reference.every((r) => r.get(name)?.length === 1)) continue
      let e = 0
      for (const r of reference) e += r.get(name)![0]! ** 2
      scalarEnergy.set(name, e)
    }
    return new OutputJudge(samples, reference, scalarEnergy)
  }

  get count(): number {
    return this.samples.length
  }

  /** Output cosine vs the reference, one per sample (the least over the outputs). */
  async cosines(candidate: Uint8Array): Promise<number[]> {
    const s = await ort.InferenceSession.create(candidate, CANDIDATE_SESSION)
    try {
      const out: number[] = []
      for (const [k, feeds] of this.samples.entries()) {
        const ref = this.reference[k]!
        const got = await s.run(feeds, [...ref.keys()])
        let least = 1
        for (const [name, x] of ref) {
          const y = numericData(got[name]!)
          const energy = this.scalarEnergy.get(name)
          // One element a sample: its cosine is only its sign. As verification does, such an
          // output is one vector across the samples; this sample's share of that vector's
          // 1 - cosine ≈ |X - Y|² / 2|X|² is n(x - y)² / 2Σx², so the scores stay paired.
          least = Math.min(least, energy === undefined ? cosineSimilarity(x, y)
            : energy > 0 ? 1 - (this.samples.length * (x[0]! - y[0]!) ** 2) / (2 * energy) : x[0] === y[0] ? 1 : 0)
        }
        out.push(least)
      }
      return out
    } finally {
      await s.release()
    }
  }
}

const SESSION: ort.InferenceSession.SessionOptions = { logSeverityLevel: 3 }
// candidates are QDQ models: judged as their ops define them, not as this CPU's int8 kernels
// compute them, so the bias-correction check and the float fallback decide the same on every
// CPU (src/runtime/exact-int8.ts)
const CANDIDATE_SESSION = exactInt8Options(SESSION)

// string outputs are not compared (the candidate's outputs are fetched by the reference's names)
const comparable = (t: ort.Tensor): ArrayLike<number> | null => (Array.isArray(t.data) ? null : numericData(t))

/** Mean of the values. */
export function mean(values: readonly number[]): number {
  let s = 0
  for (const v of values) s += v
  return s / values.length
}

/**
 * Whether paired per-sample scores `b` are worse than `a` beyond sample noise: the mean
 * difference is below zero by more than twice its standard error. With a handful of samples
 * whose cosines spread by several hundredths, a smaller mean drop is noise.
 */
export function clearlyWorse(a: readonly number[], b: readonly number[]): boolean {
  const d = b.map((x, k) => x - a[k]!)
  const m = mean(d)
  if (m >= 0) return false
  if (d.length < 2) return true
  let v = 0
  for (const x of d) v += (x - m) ** 2
  const se = Math.sqrt(v / (d.length - 1) / d.length)
  return m < -2 * se
}

import ort from 'onnxruntime-node'
import type { DataType } from '../../onnx/onnx-types.js'
import { cosineSimilarity } from '../../runtime/cosine.js'
import type { Feeds } from '../../runtime/feeds.js'
import { gatedModel } from './gated-rounding.js'
import type { QuantParams } from './quant-params.js'

/** One activation tensor the fallback kept float, and the measurement that chose it. */
export interface FloatFallbackTensor {
  tensor: string
  /** Output cosine vs float on the check samples when only this tensor is rounded. */
  cosineAlone: number
  why: string
}

export interface FloatFallbackResult {
  tensors: FloatFallbackTensor[]
  /** Output cosine of the QDQ model on the check samples without the fallback, then with it (null: no candidate, not measured). */
  cosineBefore: number | null
  cosineAfter: number | null
  /** Runs of the gated screening model, and real QDQ models judged. */
  runs: number
  models: number
}

/** Output cosine vs float of the real QDQ model with these activation tensors kept float. */
export type MeasureFloatSet = (floatTensors: ReadonlySet<string>) => Promise<number>

export interface FloatFallbackOptions {
  /** At most this many tensors go back to float. @default 8 */
  maxTensors?: number
  /** A tensor is a candidate when rounding it alone lowers output cosine below this. @default 0.995 */
  candidateCosine?: number
  /** Tensors screened together in the first pass. @default 12 */
  groupSize?: number
}

/** Re-rounding a candidate is accepted when it lowers the output cosine by less than this. */
const REROUND_TOLERANCE = 1e-4

/**
 * Find the few activation tensors whose uint8 rounding costs the most output accuracy, and
 * keep them float. Measured, not guessed: on PP-OCRv4 det the harmful tensors are early
 * backbone convolution outputs whose range spans hundreds while the bulk sits within ±2, yet
 * neither their quantile ratio nor their own rounding error ranks them (README, "How FULL_QUANT
 * works").
 *
 * One session of the float model with every tensor "gated": t' = t + g (DQ(Q(t)) - t), g a
 * scalar input, so any subset can be rounded by the feeds alone (all gates 0 is the float
 * model). Screening rounds groups of consecutive tensors, then each tensor of a group that cost
 * accuracy; all candidates go float, then each is rounded again unless that lowers the output
 * cosine with everything else rounded (the effects do not add up).
 */
export async function chooseFloatTensors(floatModel: Uint8Array, tensors: readonly string[], params: ReadonlyMap<string, QuantParams>, activationType: DataType.INT8 | DataType.UINT8, samples: Feeds[], measure: MeasureFloatSet, options: FloatFallbackOptions = {}): Promise<FloatFallbackResult> {
  const maxTensors = options.maxTensors ?? 8
  const candidateCosine = options.candidateCosine ?? 0.995
  const groupSize = options.groupSize ?? 12
  const { bytes, gates } = gatedModel(floatModel, tensors, params, activationType)
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 })
  let runs = 0
  let released = false
  try {
    const outName = session.outputNames[0]!
    const run = async (on: ReadonlySet<number>, feeds: Feeds): Promise<Float32Array> => {
      const all: Feeds = { ...feeds }
      gates.forEach((g, i) => { all[g] = new ort.Tensor('float32', Float32Array.of(on.has(i) ? 1 : 0), []) })
      runs++
      return (await session.run(all, [outName]))[outName]!.data as Float32Array
    }
    const reference = await Promise.all(samples.map((s) => run(new Set(), s)))
    const cosine = async (on: ReadonlySet<number>): Promise<number> => {
      let sum = 0
      for (const [k, s] of samples.entries()) sum += cosineSimilarity(reference[k]!, await run(on, s))
      return sum / samples.length
    }
    const alone = new Map<number, number>()
    for (let start = 0; start < tensors.length; start += groupSize) {
      const group = Array.from({ length: Math.min(groupSize, tensors.length - start) }, (_, i) => start + i)
      if ((await cosine(new Set(group))) >= candidateCosine) continue
      for (const i of group) alone.set(i, await cosine(new Set([i])))
    }
    const candidates = [...alone].filter(([, c]) => c < candidateCosine).sort((a, b) => a[1] - b[1]).slice(0, maxTensors)
    await session.release()
    released = true
    if (candidates.length === 0) return { tensors: [], cosineBefore: null, cosineAfter: null, runs, models: 0 }
    // All candidates float first, then each rounded again, least costly first, unless that lowers
    // the output: rounding errors interact (on PP-OCRv4 det two chained tensors only help float
    // together), so returning them to float one at a time would miss pairs. Judged on the real
    // QDQ model (weights rounded too), which the gated one only approximates.
    const cosineBefore = await measure(new Set())
    const float = new Set(candidates.map(([i]) => tensors[i]!))
    let best = await measure(float)
    const kept: [number, number][] = []
    for (const [i, c] of [...candidates].reverse()) {
      float.delete(tensors[i]!)
      const cos = await measure(float)
      if (cos >= best - REROUND_TOLERANCE) best = Math.max(best, cos)
      else {
        float.add(tensors[i]!)
        kept.push([i, c])
      }
    }
    if (best <= cosineBefore) return { tensors: [], cosineBefore, cosineAfter: cosineBefore, runs, models: candidates.length + 2 }
    const chosen = kept.reverse().map(([i, c]): FloatFallbackTensor => ({
      tensor: tensors[i]!,
      cosineAlone: c,
      why: `rounding it alone lowers output cosine to ${c.toFixed(5)} on ${samples.length} calibration sample(s)`,
    }))
    return { tensors: chosen, cosineBefore, cosineAfter: best, runs, models: candidates.length + 2 }
  } finally {
    if (!released) await session.release()
  }
}

import ort from 'onnxruntime-node'
import type { DataType } from '../../onnx/onnx-types.js'
import { cosineSimilarity } from '../../runtime/cosine.js'
import type { Feeds } from '../../runtime/feeds.js'
import { gatedModel } from './gated-rounding.js'
import { mean } from './output-cosines.js'
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
  /** Mean output cosine of the QDQ model on the judging samples without the fallback, then with it (null: no candidate, not measured). */
  cosineBefore: number | null
  cosineAfter: number | null
  /** Runs of the gated screening model, and real QDQ models judged. */
  runs: number
  models: number
}

/** Output cosine vs float of the real QDQ model with these activation tensors kept float, one per judging sample. */
export type MeasureFloatSet = (floatTensors: ReadonlySet<string>) => Promise<number[]>

export interface FloatFallbackOptions {
  /** At most this many tensors go back to float. @default 8 */
  maxTensors?: number
  /** A tensor is a candidate when rounding it alone lowers output cosine below this. @default 0.995 */
  candidateCosine?: number
  /** Tensors screened together in the first pass. @default 12 */
  groupSize?: number
}

/** A candidate is kept float only when the judging samples' mean output cosine rises by more than this... */
const MIN_GAIN = 2e-4
/** ...and no judging sample's output cosine falls by more than this. */
const SAMPLE_TOLERANCE = 1e-3

/**
 * Find the few activation tensors whose uint8 rounding costs the most output accuracy, and
 * keep them float. Measured, not guessed: on PP-OCRv4 det the harmful tensors are early
 * backbone convolution outputs whose range spans hundreds while the bulk sits within ±2, yet
 * neither their quantile ratio nor their own rounding error ranks them (README, "How FULL_QUANT
 * works").
 *
 * Screening: one session of the float model with every tensor "gated": t' = t + g (DQ(Q(t)) - t),
 * g a scalar input, so any subset can be rounded by the feeds alone (all gates 0 is the float
 * model). Groups of consecutive tensors are rounded, then each tensor of a group that cost
 * accuracy, on the `screen` samples.
 *
 * Judging, on other samples (`measure`, the real QDQ model): candidates go float one at a time,
 * costliest first, and each stays float only if the mean output cosine rises and no judging
 * sample gets worse. Keeping a tensor float can lower the output: a Q/DQ pair also snaps the
 * small errors its producer received back onto the codes the float values have (on a rendered
 * page, the flat background: PP-OCRv4 det's `p2o.Add.15` rounded is closer to float than the
 * same tensor left unrounded, cosine 0.9936 vs 0.9917), so rounding errors partly cancel and
 * the effect of un-rounding one tensor differs from page to page (det at 640x640: one held-out
 * page 0.971 → 0.909, another 0.952 → 0.976). Chosen on 2 samples by the mean alone, the float
 * set raised the chosen samples' cosine and lowered held-out pages'; hence separate judging
 * samples and the per-sample condition.
 */
export async function chooseFloatTensors(floatModel: Uint8Array, tensors: readonly string[], params: ReadonlyMap<string, QuantParams>, activationType: DataType.INT8 | DataType.UINT8, screen: Feeds[], measure: MeasureFloatSet, options: FloatFallbackOptions = {}): Promise<FloatFallbackResult> {
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
    const reference = await Promise.all(screen.map((s) => run(new Set(), s)))
    const cosine = async (on: ReadonlySet<number>): Promise<number> => {
      let sum = 0
      for (const [k, s] of screen.entries()) sum += cosineSimilarity(reference[k]!, await run(on, s))
      return sum / screen.length
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
    const before = await measure(new Set())
    let current = before
    const float = new Set<string>()
    const chosen: FloatFallbackTensor[] = []
    for (const [i, c] of candidates) {
      const trial = new Set([...float, tensors[i]!])
      const cos = await measure(trial)
      if (mean(cos) <= mean(current) + MIN_GAIN || cos.some((x, k) => x < current[k]! - SAMPLE_TOLERANCE)) continue
      float.add(tensors[i]!)
      current = cos
      chosen.push({ tensor: tensors[i]!, cosineAlone: c, why: `rounding it alone lowers output cosine to ${c.toFixed(5)} on ${screen.length} calibration sample(s)` })
    }
    return { tensors: chosen, cosineBefore: mean(before), cosineAfter: mean(current), runs, models: candidates.length + 1 }
  } finally {
    if (!released) await session.release()
  }
}


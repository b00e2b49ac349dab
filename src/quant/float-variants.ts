import type { Worker } from 'node:worker_threads'
import { decodeModelProto, encodeModelProto } from '../onnx/codec.js'
import { allNames, NameAllocator } from '../onnx/graph-walk.js'
import { DataType, type TensorProto } from '../onnx/onnx-types.js'
import { isExternal } from '../onnx/tensor-data.js'
import type { Feeds } from '../runtime/feeds.js'
import { ScorePool } from '../runtime/score-pool.js'
import { referenceOutputs, scoreVariant } from '../runtime/variant-score.js'
import { biasSlot, outputShift, setBias, type BiasSlot } from './bias-correction.js'
import type { PlannedWeight } from './weight-quant.js'
import { findWeightSites } from './weight-sites.js'

/**
 * Runs variants of a float model in which some weights hold other (dequantized) values, and
 * scores each by its mean output cosine vs the original on fixed samples (the worst output per
 * sample). A variant is written into a float copy of the model: the same values onnxruntime folds
 * a decode subgraph into, at a fraction of the rewrite cost. With input `means`, each weight's op
 * bias absorbs the mean output shift its values cause, as the written file's bias correction does.
 */
export interface FloatVariants {
  /**
   * Mean output cosine with `values(w)` in every weight (`float(w)` keeps it as it is), on the
   * first `count` samples (default: all); `here` scores it on the calling thread even while
   * workers run.
   */
  score(values: (w: PlannedWeight) => Float32Array, count?: number, here?: boolean): Promise<number>
  /** The weight's float values, as held in the copy. */
  float(w: PlannedWeight): Float32Array
  /** onnxruntime sessions created so far. */
  readonly sessions: number
  /**
   * Score on `threads` worker threads from now on, so that concurrent `score` calls run
   * side by side (same scores, less time), for scores on at most `samples` samples (the
   * workers hold only those; default every sample). False when workers cannot start here. `start` replaces how a
   * worker is started (see ScorePool.open).
   */
  parallel(threads: number, opts?: { samples?: number; start?: () => Worker }): boolean
  /** Stop the workers `parallel` started; scoring goes on, on the calling thread. */
  close(): Promise<void>
  /** Scores the workers have returned (0 when every score ran on the calling thread). */
  readonly workerScores: number
}

/** Null when a weight is not raw float32 in the model (float16, double or external data). */
export async function floatVariants(
  original: Uint8Array, planned: readonly PlannedWeight[], samples: readonly Feeds[], means: ReadonlyMap<PlannedWeight, Float64Array> = new Map(),
): Promise<FloatVariants | null> {
  const copy = decodeModelProto(original)
  const sites = findWeightSites(copy)
  const names = new NameAllocator(allNames(copy))
  const tensors = new Map<PlannedWeight, TensorProto>()
  for (const w of planned) {
    const t = sites[w.index]?.definition.tensor
    if (!t || t.data_type !== DataType.FLOAT || isExternal(t)) return null
    tensors.set(w, t)
  }
  const reference = await referenceOutputs(original, samples)
  const floats = new Map(planned.map((w) => [w, w.readValues().slice()]))
  const slots = new Map<PlannedWeight, BiasSlot>()
  for (const [w, m] of means) {
    const slot = m && biasSlot(copy, sites[w.index]!, names)
    if (slot) slots.set(w, slot)
  }
  // shifts are cached per values array: the caller hands the same array for the same encoding
  const shifts = new WeakMap<Float32Array, Float64Array | null>()
  let sessions = 0
  const score = async (values: (w: PlannedWeight) => Float32Array, count = samples.length, here = false): Promise<number> => {
    for (const w of planned) {
      const v = values(w)
      const t = tensors.get(w)!
      t.raw_data = new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
      if (t.float_data?.length) t.float_data = []
      const slot = slots.get(w)
      if (!slot) continue
      let shift = v === floats.get(w) ? null : shifts.get(v)
      if (shift === undefined) shifts.set(v, (shift = outputShift(w.site, floats.get(w)!, v, means.get(w)!)))
      setBias(slot, shift)
    }
    // encoded before any await: concurrent calls each score the values they set
    const model = encodeModelProto(copy)
    sessions++
    if (pool && !here && count <= poolSamples) {
      try {
        return await pool.score(model, count)
      } catch {
        // a worker that failed (out of memory, say) leaves the rest of the work to this thread,
        // where a model that cannot run fails with its own error
        await closePool()
      }
    }
    return scoreVariant(model, samples, reference, count)
  }
  let pool: ScorePool | null = null
  let poolSamples = 0
  let workerScores = 0
  const closePool = async (): Promise<void> => {
    const p = pool
    pool = null
    workerScores += p?.scored ?? 0
    await p?.close()
  }
  return {
    score,
    float: (w) => floats.get(w)!,
    get sessions() { return sessions },
    get workerScores() { return workerScores + (pool?.scored ?? 0) },
    parallel(threads, opts = {}) {
      if (!pool && threads >= 1) {
        poolSamples = Math.min(samples.length, opts.samples ?? samples.length)
        pool = ScorePool.open(threads, samples.slice(0, poolSamples), reference.slice(0, poolSamples), opts.start)
      }
      return pool !== null
    },
    close: closePool,
  }
}

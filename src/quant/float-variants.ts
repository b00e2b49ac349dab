import type { Worker } from 'node:worker_threads'
import { decodeModelProto, encodeModelProto } from '../onnx/codec.js'
import { constantsAsInputs } from '../onnx/constants-as-inputs.js'
import { NameAllocator } from '../onnx/graph-walk.js'
import { DataType, type TensorProto } from '../onnx/onnx-types.js'
import { isExternal, tensorDims } from '../onnx/tensor-data.js'
import type { Feeds } from '../runtime/feeds.js'
import { ScorePool } from '../runtime/score-pool.js'
import { referenceOutputs, scoreWritten, VariantScorer, type FedTensor } from '../runtime/variant-score.js'
import { biasContext, biasSlot, outputShift, shiftedBias, type BiasSlot } from './bias-correction.js'
import type { PlannedWeight } from './weight-quant.js'
import { findWeightSites } from './weight-sites.js'

/**
 * Runs variants of a float model in which some weights hold other (dequantized) values, and
 * scores each by its output cosine vs the original on fixed samples (the worst output per
 * sample, averaged; outputs of one element a sample across the samples). The variants run in a float copy of the model whose weights (and corrected biases) are
 * graph inputs, fed the same values onnxruntime folds a decode subgraph into: one session serves
 * every variant after the first, which runs with its values written in. With input `means`, each
 * weight's op bias absorbs the mean output shift its values cause, as the written file's bias
 * correction does.
 */
export interface FloatVariants {
  /**
   * Mean output cosine with `values(w)` in every weight (`float(w)` keeps it as it is), on the
   * first `count` samples (default: all); `here` scores it on the calling thread even while
   * workers run.
   */
  score(values: (w: PlannedWeight) => Float32Array, count?: number, here?: boolean): Promise<number>
  /** The weight's float values, as the model holds them (what a variant feeds to keep it float). */
  float(w: PlannedWeight): Float32Array
  /**
   * The float model's own score on the first `count` samples, fed as the variants after the
   * first are (fed weights can run other kernels than written ones, so it differs from 1 in the
   * last bits): what a variant's loss is measured against. Counts as a scored variant.
   */
  floatScore(count?: number): Promise<number>
  /** Variants scored so far (each one inference per sample). */
  readonly scored: number
  /**
   * Score on `threads` worker threads from now on, so that concurrent `score` calls run
   * side by side (same scores, less time), for scores on at most `samples` samples (the
   * workers hold only those; default every sample). False when workers cannot start here. `start` replaces how a
   * worker is started (see ScorePool.open).
   */
  parallel(threads: number, opts?: { samples?: number; start?: () => Worker }): boolean
  /** Stop the workers `parallel` started; scoring goes on, on the calling thread. */
  close(): Promise<void>
  /** Stop the workers and release the calling thread's session: no scoring after this. */
  dispose(): Promise<void>
  /** Scores the workers have returned (0 when every score ran on the calling thread). */
  readonly workerScores: number
}

/** Null when a weight is not raw float32 in the model (float16, double or external data). */
export async function floatVariants(
  original: Uint8Array, planned: readonly PlannedWeight[], samples: readonly Feeds[], means: ReadonlyMap<PlannedWeight, Float64Array> = new Map(),
): Promise<FloatVariants | null> {
  const copy = decodeModelProto(original)
  const sites = findWeightSites(copy)
  const names = NameAllocator.forModel(copy)
  for (const w of planned) {
    const t = sites[w.index]?.definition.tensor
    if (!t || t.data_type !== DataType.FLOAT || isExternal(t)) return null
  }
  const floats = new Map(planned.map((w) => [w, w.readValues().slice()]))
  const slots = new Map<PlannedWeight, BiasSlot>()
  // a bias that is itself a planned weight (read as one in a subgraph) is fed as that weight
  const weightTensors = new Set(planned.map((w) => sites[w.index]!.definition.tensor))
  const bias = means.size ? biasContext(copy, names) : null
  for (const w of means.keys()) {
    const slot = bias && biasSlot(bias, sites[w.index]!)
    if (slot && !weightTensors.has(slot.tensor)) slots.set(w, slot)
  }
  const weightDefs = planned.map((w) => sites[w.index]!.definition)
  // biasSlot finds biases of the main graph only
  const biasDefs = [...slots.values()].map((slot) => ({ graph: copy.graph!, tensor: slot.tensor, node: slot.node }))
  const inputs = constantsAsInputs(copy, [...weightDefs, ...biasDefs], names)
  const weightInput = new Map(planned.map((w, i) => [w, inputs[i]!]))
  const biasInput = new Map([...slots.keys()].map((w, i) => [w, inputs[planned.length + i]!]))
  const fedFloats: Record<string, FedTensor> = {}
  for (const w of planned) fedFloats[weightInput.get(w)!] = { data: floats.get(w)!, dims: w.site.dims }
  for (const [w, slot] of slots) fedFloats[biasInput.get(w)!] = { data: slot.base, dims: tensorDims(slot.tensor) }
  const model = encodeModelProto(copy)
  const reference = await referenceOutputs(original, samples)
  // The first score (in the callers: every weight at its plain encoding) runs with the values
  // written in, and the fed session starts only when more scores follow (a ranking): fed weights cannot use
  // onnxruntime's depthwise-conv kernel, which needs constant weights, and a model that meets
  // the target at once needs no other score (PP-OCR cls, 8 bit: 1.30-1.34 s with a session per
  // variant, 1.62-1.66 s with 16 fed runs).
  let scorer: Promise<VariantScorer> | null = null
  let disposed = false
  const fed = (): Promise<VariantScorer> => {
    // a session started after dispose() would never be released
    if (disposed) return Promise.reject(new Error('float variants scored after dispose()'))
    return (scorer ??= VariantScorer.create(model, fedFloats))
  }
  const written = async (changed: Readonly<Record<string, Float32Array>>, count: number): Promise<number> => {
    const m = decodeModelProto(original)
    const s = findWeightSites(m)
    const n = NameAllocator.forModel(m)
    const tensorOf = new Map<string, TensorProto>()
    for (const w of planned) tensorOf.set(weightInput.get(w)!, s[w.index]!.definition.tensor)
    const bias = slots.size ? biasContext(m, n) : null
    for (const w of slots.keys()) {
      // the same bias biasSlot found in the copy the fed model came from
      const slot = bias && biasSlot(bias, s[w.index]!)
      if (slot) tensorOf.set(biasInput.get(w)!, slot.tensor)
    }
    for (const [name, v] of Object.entries(changed)) {
      const t = tensorOf.get(name)
      if (!t) throw new Error(`fed input '${name}' has no tensor in the written model`)
      t.raw_data = new Uint8Array(v.buffer, v.byteOffset, v.byteLength)
      t.float_data = []
    }
    return scoreWritten(encodeModelProto(m), samples, reference, count)
  }
  // corrected biases are cached per values array: the caller hands the same array for the same encoding
  const biases = new WeakMap<Float32Array, Float32Array | null>()
  const biasFor = (w: PlannedWeight, v: Float32Array): Float32Array | null => {
    let b = biases.get(v)
    if (b === undefined) {
      const shift = outputShift(w.site, floats.get(w)!, v, means.get(w)!)
      biases.set(v, (b = shift && shiftedBias(slots.get(w)!, shift)))
    }
    return b
  }
  let scored = 0
  const score = async (values: (w: PlannedWeight) => Float32Array, count = samples.length, here = false): Promise<number> => {
    // only what differs from the float model travels: a worker holds the floats already
    const changed: Record<string, Float32Array> = {}
    for (const w of planned) {
      const v = values(w)
      if (v === floats.get(w)) continue
      changed[weightInput.get(w)!] = v
      const bias = slots.has(w) ? biasFor(w, v) : null
      if (bias) changed[biasInput.get(w)!] = bias
    }
    if (scored++ === 0) return written(changed, count)
    if (pool && !here && count <= poolSamples) {
      try {
        return await pool.score(changed, count)
      } catch {
        // a worker that failed (out of memory, say) leaves the rest of the work to this thread,
        // where a model that cannot run fails with its own error
        await closePool()
      }
    }
    return (await fed()).score(changed, samples, reference, count)
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
    floatScore: async (count = samples.length) => {
      scored++
      return (await fed()).score({}, samples, reference, count)
    },
    get scored() { return scored },
    get workerScores() { return workerScores + (pool?.scored ?? 0) },
    parallel(threads, opts = {}) {
      if (!pool && threads >= 1) {
        poolSamples = Math.min(samples.length, opts.samples ?? samples.length)
        pool = ScorePool.open(threads, model, fedFloats, samples.slice(0, poolSamples), reference.slice(0, poolSamples), opts.start)
      }
      return pool !== null
    },
    close: closePool,
    async dispose() {
      disposed = true
      await closePool()
      const s = scorer
      scorer = null
      // a session that failed to start has nothing to release
      await s?.then((x) => x.release(), () => {})
    },
  }
}

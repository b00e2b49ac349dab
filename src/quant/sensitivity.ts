import ort from 'onnxruntime-node'
import { decodeModelProto, encodeModelProto } from '../onnx/codec.js'
import { DataType, type TensorProto } from '../onnx/onnx-types.js'
import { isExternal } from '../onnx/tensor-data.js'
import { cosineSimilarity } from '../runtime/cosine.js'
import type { Feeds } from '../runtime/feeds.js'
import { decodedValues, encodeWeight, type EncodedWeight, type PlannedWeight } from './weight-quant.js'
import { findWeightSites } from './weight-sites.js'
import { biasSlot, outputShift, setBias, type BiasSlot } from './bias-correction.js'
import { NameAllocator } from './dequant-nodes.js'
import { allNames } from '../onnx/graph-walk.js'

export interface EscalationOptions {
  /** Output cosine vs fp32 the quantized model must reach on `samples`. */
  target: number
  /** Width given to the layers that need it (int16 storage above 8). */
  highBits: number
  /** At most this share of the quantized weight elements may be escalated. */
  maxShare: number
  /**
   * Rank the weights on the first this many samples (one session per weight); the whole-model
   * checks (before, and the search over the ranking) use every sample.
   * @default every sample
   */
  rankSamples?: number
  /**
   * Rank by output error per weight element (what escalating buys per stored byte) and pass over
   * weights that do not fit `maxShare`, instead of ranking by output error and stopping at the
   * first weight that does not fit (on PP-OCRv4 rec at 6 bit, a 120x6625 head first in the
   * ranking then ended the search after 7 weights: 0.929 held out, against 0.998 per element).
   * @default false
   */
  perElement?: boolean
  /**
   * When even `maxShare` does not reach the target, escalate only the ranked prefix within this
   * smaller share: bytes that buy a target are worth more than bytes that only narrow a miss.
   * @default maxShare (no second budget)
   */
  unreachedShare?: number
}

export interface Escalation {
  /** Planned weights to store at `highBits` instead of the requested width. */
  escalated: Set<PlannedWeight>
  cosineBefore: number
  cosineAfter: number
  reached: boolean
  /** Per weight: 1 - output cosine with only that weight quantized, on the ranking samples (see `rankSamples`). */
  sensitivity: Map<PlannedWeight, number>
  sessions: number
}

/**
 * Some layers carry far more of a model's rounding error than others (measured on PP-OCRv4 det
 * at 8 bit: one 48x48 pointwise conv gives half of the output error). When the quantized model
 * misses `target`, measure each weight's effect alone, rank the weights by that effect (or by it
 * per element, see `perElement`), then store the shortest prefix of the ranking at `highBits`
 * that brings the whole model to the target (bisection).
 * The variants are built by writing the dequantized floats into a float copy of the model: the
 * same values onnxruntime folds the decode subgraph into, at a fraction of the rewrite cost.
 */
export async function escalateSensitiveWeights(
  original: Uint8Array,
  planned: PlannedWeight[],
  low: Map<PlannedWeight, EncodedWeight>,
  samples: Feeds[],
  opts: EscalationOptions,
  means: Map<PlannedWeight, Float64Array> = new Map(),
): Promise<Escalation | null> {
  const copy = decodeModelProto(original)
  const copySites = findWeightSites(copy)
  const copyNames = new NameAllocator(allNames(copy))
  const tensors = new Map<PlannedWeight, TensorProto>()
  for (const w of planned) {
    const t = copySites[w.index]?.definition.tensor
    // Variants overwrite raw float32 data in place; other storage is left to the plain encoding.
    if (!t || t.data_type !== DataType.FLOAT || isExternal(t)) return null
    tensors.set(w, t)
  }
  const options: ort.InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 4 }
  const reference = await ort.InferenceSession.create(original, options)
  const refOutputs: Record<string, ort.Tensor>[] = []
  try {
    for (const feeds of samples) refOutputs.push(await reference.run(feeds))
  } finally {
    await reference.release()
  }
  const high = new Map<PlannedWeight, Float32Array>()
  const floats = new Map(planned.map((w) => [w, w.readValues().slice()]))
  // Each variant carries the bias correction its weights imply (none for float weights).
  const slots = new Map<PlannedWeight, BiasSlot>()
  for (const [w, m] of means) {
    const slot = biasSlot(copy, copySites[w.index]!, copyNames)
    if (slot && m) slots.set(w, slot)
  }
  const shifts = new WeakMap<Float32Array, Float64Array | null>()
  let sessions = 0
  const evaluate = async (values: (w: PlannedWeight) => Float32Array, count = samples.length): Promise<number> => {
    for (const w of planned) {
      const v = values(w)
      setFloat(tensors.get(w)!, v)
      const slot = slots.get(w)
      if (!slot) continue
      let shift = v === floats.get(w) ? null : shifts.get(v)
      if (shift === undefined) shifts.set(v, (shift = outputShift(w.site, floats.get(w)!, v, means.get(w)!)))
      setBias(slot, shift)
    }
    const session = await ort.InferenceSession.create(encodeModelProto(copy), options)
    sessions++
    try {
      let sum = 0
      for (const [i, feeds] of samples.slice(0, count).entries()) {
        const out = await session.run(feeds)
        let worst = 1
        for (const name of session.outputNames) {
          const a = refOutputs[i]![name]!.data
          const b = out[name]!.data
          if (a instanceof Float32Array && b instanceof Float32Array) worst = Math.min(worst, cosineSimilarity(a, b))
        }
        sum += worst
      }
      return sum / count
    } finally {
      await session.release()
    }
  }
  const lowDecoded = new Map<PlannedWeight, Float32Array>()
  const lowOf = (w: PlannedWeight): Float32Array => {
    let v = lowDecoded.get(w)
    if (!v) lowDecoded.set(w, (v = decodedValues(w, low.get(w)!)))
    return v
  }
  const highOf = (w: PlannedWeight): Float32Array => {
    let v = high.get(w)
    if (!v) high.set(w, (v = decodedValues(w, encodeWeight(w, opts.highBits))))
    return v
  }
  const cosineBefore = await evaluate(lowOf)
  const sensitivity = new Map<PlannedWeight, number>()
  if (cosineBefore >= opts.target) {
    return { escalated: new Set(), cosineBefore, cosineAfter: cosineBefore, reached: true, sensitivity, sessions }
  }
  const rankCount = Math.min(samples.length, opts.rankSamples ?? samples.length)
  for (const w of planned) sensitivity.set(w, 1 - (await evaluate((x) => (x === w ? lowOf(x) : floats.get(x)!), rankCount)))
  const total = planned.reduce((n, w) => n + w.elements, 0)
  const budget = total * opts.maxShare
  const ranked: PlannedWeight[] = []
  if (opts.perElement) {
    let used = 0
    for (const w of [...planned].sort((a, b) => sensitivity.get(b)! / b.elements - sensitivity.get(a)! / a.elements)) {
      if (sensitivity.get(w)! <= 0 || used + w.elements > budget) continue
      ranked.push(w)
      used += w.elements
    }
  } else {
    let used = 0
    for (const w of [...planned].sort((a, b) => sensitivity.get(b)! - sensitivity.get(a)!)) {
      if (used + w.elements > budget) break
      ranked.push(w)
      used += w.elements
    }
  }
  const cap = ranked.length
  const position = new Map(ranked.map((w, i) => [w, i]))
  const withTop = (k: number) => evaluate((w) => ((position.get(w) ?? Infinity) < k ? highOf(w) : lowOf(w)))
  // Smallest k whose top-k escalation reaches the target; the cosine is close to monotone in k.
  let best = { k: cap, cosine: cap > 0 ? await withTop(cap) : cosineBefore }
  if (best.cosine >= opts.target) {
    let lo = 0
    let hi = cap
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1
      const c = await withTop(mid)
      if (c >= opts.target) {
        hi = mid
        best = { k: mid, cosine: c }
      } else lo = mid
    }
  }
  if (best.cosine < opts.target && opts.unreachedShare !== undefined) {
    // the target is out of reach anyway: spend only the smaller budget on getting closer
    let k = 0
    for (let used = 0; k < cap && used + ranked[k]!.elements <= total * opts.unreachedShare; k++) used += ranked[k]!.elements
    if (k < best.k) best = { k, cosine: k > 0 ? await withTop(k) : cosineBefore }
  }
  return {
    escalated: new Set(ranked.slice(0, best.k)),
    cosineBefore,
    cosineAfter: best.cosine,
    reached: best.cosine >= opts.target,
    sensitivity,
    sessions,
  }
}

function setFloat(t: TensorProto, values: Float32Array): void {
  t.raw_data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
  if (t.float_data?.length) t.float_data = []
}

import ort from 'onnxruntime-node'
import type { ActivationQuantMethod } from '../cfg/index.js'
import { decodeModelProto, encodeModelProto } from '../onnx/codec.js'
import { opsetVersion } from '../onnx/graph-walk.js'
import type { ModelProto } from '../onnx/onnx-types.js'
import type { Feeds } from '../runtime/feeds.js'
import { prefetch, type CalibrationSet } from './calibration-set.js'
import { exposeTensors } from './exposed-tensors.js'
import { mainGraphTensors, withMinMaxProbes } from './graph-probes.js'
import { ChannelMeanExtremes } from './channel-means.js'
import { clippedShare, type ClippedShare } from './clipped-share.js'
import { SignedHistogram } from './histogram.js'
import { klThreshold } from './kl-divergence.js'
import { MaxMinStat } from './max-min.js'
import { tensorFloats, scalarOf } from './ort-values.js'
import { outlierQuantiles, withOutlierProbes } from './outlier-probes.js'
import { OUTLIER_SHARE, RemovalOutlierStat } from './removal-outlier.js'
import { strideFor } from './subsample.js'

export interface TensorRange {
  min: number
  max: number
}

export interface RangeOptions {
  /** Which samples of the set to calibrate on (others can be held back for evaluation). @default every sample */
  sampleIndices?: number[]
  /**
   * KL only: the grid is symmetric, so [-T, T] is not cut to the side each sign reaches (the
   * zero point must stay 0). @default false
   */
  symmetric?: boolean
  onProgress?: (message: string) => void
  /**
   * Called once with the tensors that held NaN or ±Infinity on some sample (a -inf attention
   * mask, a Log of zero): their ranges are those of their finite values.
   */
  onNonFinite?: (tensors: string[]) => void
  /**
   * KL only: called once with the graph inputs whose range clips more than
   * INPUT_CLIP_WARN_SHARE of the values the calibration data gave them.
   */
  onInputClipped?: (inputs: ClippedInput[]) => void
}

/** A graph input whose KL range leaves out part of the calibration data. */
export interface ClippedInput extends ClippedShare {
  tensor: string
  min: number
  max: number
}

/**
 * KL's threshold is meant to clip rare outliers. A model input is the data itself, and data
 * often sits at its extremes (white paper and dark strokes in a scanned page), where the least
 * divergence can cut most of it: PP-OCR's word crops, [-1, 1], were cut to [-0.067, 0.954].
 * Past this share the caller is told.
 */
export const INPUT_CLIP_WARN_SHARE = 0.01

/**
 * The activation range of each tensor over the calibration samples, by the cfg's method:
 * MAX_MIN the global extremes; REMOVAL_OUTLIER the 0.01% and 99.99% quantiles of each sample,
 * averaged; KL TensorRT's entropy threshold of a 2048-bin |x| histogram, zeros left out
 * (klRanges).
 * Every range includes 0. Each sample is folded into running statistics as it is run; no
 * sample's activations are kept. Graph inputs among `tensors` are ranged from the feeds.
 */
export async function collectActivationRanges(model: Uint8Array, tensors: string[], set: CalibrationSet, method: ActivationQuantMethod, options: RangeOptions = {}): Promise<Map<string, TensorRange>> {
  const names = [...new Set(tensors)]
  const indices = options.sampleIndices ?? Array.from({ length: set.count }, (_, i) => i)
  const proto = decodeModelProto(model)
  const known = mainGraphTensors(proto)
  const unknown = names.filter((t) => !known.has(t))
  if (unknown.length) throw new Error(`tensors not in the model's main graph: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', …' : ''}`)
  const ranges = new Map<string, TensorRange>()
  if (names.length === 0 || indices.length === 0) return ranges
  let found: Map<string, TensorRange>
  const nonFinite = new Set<string>()
  if (method === 'MAX_MIN') found = await maxMinRanges(proto, model, names, set, indices, options, nonFinite)
  else if (method === 'REMOVAL_OUTLIER') found = await outlierRanges(proto, model, names, set, indices, options, nonFinite)
  else found = await klRanges(model, names, new Set(splitInputs(proto, names).fromFeeds), set, indices, options, nonFinite)
  if (nonFinite.size) options.onNonFinite?.(names.filter((n) => nonFinite.has(n)))
  for (const name of names) {
    const r = found.get(name)
    // a tensor never seen (no elements) gets the degenerate range [0, 0]
    const min = r && Number.isFinite(r.min) ? r.min : 0
    const max = r && Number.isFinite(r.max) ? r.max : 0
    ranges.set(name, { min: Math.min(min, 0), max: Math.max(max, 0) })
  }
  return ranges
}

function splitInputs(proto: ModelProto, names: string[]): { fromFeeds: string[]; inner: string[] } {
  const inputs = new Set((proto.graph?.input ?? []).map((i) => i.name ?? ''))
  return { fromFeeds: names.filter((n) => inputs.has(n)), inner: names.filter((n) => !inputs.has(n)) }
}

/** Run a probe model on each sample; `fold` gets the sample's feeds and the probe outputs. */
async function runProbe(probe: ModelProto, fetches: string[], set: CalibrationSet, indices: number[], fold: (feeds: Feeds, out: ort.InferenceSession.ReturnType, sample: number) => void, progress: (k: number) => void): Promise<void> {
  const session = fetches.length ? await ort.InferenceSession.create(encodeModelProto(probe)) : null
  try {
    // the next sample is read and preprocessed while onnxruntime runs this one
    let next = prefetch(set, indices[0]!)
    for (let k = 0; k < indices.length; k++) {
      const feeds = await next
      if (k + 1 < indices.length) next = prefetch(set, indices[k + 1]!)
      const out = session ? await session.run(feeds, fetches) : {}
      fold(feeds, out, indices[k]!)
      progress(k)
    }
  } finally {
    await session?.release()
  }
}

function reporter(label: string, total: number, onProgress?: (message: string) => void): (k: number) => void {
  const step = Math.max(1, Math.ceil(total / 10))
  return (k) => {
    if (onProgress && ((k + 1) % step === 0 || k + 1 === total)) onProgress(`${label}: sample ${k + 1}/${total}`)
  }
}

/**
 * MAX_MIN: ReduceMin and ReduceMax nodes added to a copy of the graph return two scalars per
 * tensor, so onnxruntime copies out nothing large and the calibration run costs about one
 * inference plus the reductions.
 */
async function maxMinRanges(proto: ModelProto, bytes: Uint8Array, names: string[], set: CalibrationSet, indices: number[], options: RangeOptions, nonFinite: Set<string>): Promise<Map<string, TensorRange>> {
  const { fromFeeds, inner } = splitInputs(proto, names)
  const stats = new Map(names.map((n) => [n, new MaxMinStat()]))
  const probe = withMinMaxProbes(proto, inner)
  const fetches = [...probe.outputs.values()].flat()
  await runProbe(probe.model, fetches, set, indices, (feeds, out) => {
    for (const name of fromFeeds) stats.get(name)!.add(tensorFloats(feeds[name]!))
    for (const [name, [lo, hi]] of probe.outputs) stats.get(name)!.addExtremes(scalarOf(out[lo]!), scalarOf(out[hi]!))
  }, reporter('calibrating ranges (MAX_MIN)', indices.length, options.onProgress))
  // ReduceMin/ReduceMax return the infinity, not the finite extremes: those tensors are read whole
  await redoOverFiniteValues(bytes, inner, stats, () => new MaxMinStat(), set, indices)
  for (const [name, s] of stats) if (s.nonFinite) nonFinite.add(name)
  return stats
}

/**
 * Run again, reading the tensors whole, the statistics of inner tensors whose in-graph reduction
 * met a NaN or an infinity (rare: masks, Log of zero), so their ranges cover their finite values.
 */
async function redoOverFiniteValues<S extends { nonFinite: boolean; add(data: ArrayLike<number>): void }>(bytes: Uint8Array, inner: string[], stats: Map<string, S>, fresh: () => S, set: CalibrationSet, indices: number[]): Promise<void> {
  const redo = inner.filter((n) => stats.get(n)!.nonFinite)
  if (redo.length === 0) return
  for (const n of redo) stats.set(n, fresh())
  await exposeTensors(bytes, redo, set, (name, data) => stats.get(name)!.add(data), { sampleIndices: indices, stride: () => 1 })
}

/**
 * REMOVAL_OUTLIER: TopK nodes added to a copy of the graph return the few smallest and largest
 * values the 0.01% / 99.99% quantiles need (k = 0.01% of the elements + 2), not the tensors.
 * Below opset 11 (TopK without `largest`) the tensors are exposed and the quantiles found by
 * selection in JS.
 */
async function outlierRanges(proto: ModelProto, bytes: Uint8Array, names: string[], set: CalibrationSet, indices: number[], options: RangeOptions, nonFinite: Set<string>): Promise<Map<string, TensorRange>> {
  const { fromFeeds, inner } = splitInputs(proto, names)
  const stats = new Map(names.map((n) => [n, new RemovalOutlierStat()]))
  const progress = reporter('calibrating ranges (REMOVAL_OUTLIER)', indices.length, options.onProgress)
  if (opsetVersion(proto) >= 11) {
    const probe = withOutlierProbes(proto, inner, OUTLIER_SHARE)
    await runProbe(probe.model, probe.fetches, set, indices, (feeds, out) => {
      for (const name of fromFeeds) stats.get(name)!.add(tensorFloats(feeds[name]!))
      for (const [name, outputs] of probe.outputs) {
        const q = outlierQuantiles(out, outputs, OUTLIER_SHARE)
        if (q) stats.get(name)!.addQuantiles(q.low, q.high)
      }
    }, progress)
    await redoOverFiniteValues(bytes, inner, stats, () => new RemovalOutlierStat(), set, indices)
  } else {
    let last = -1
    let done = 0
    await exposeTensors(bytes, names, set, (name, data, _dims, sample) => {
      stats.get(name)!.add(data)
      if (sample !== last) {
        last = sample
        progress(done++)
      }
    }, { sampleIndices: indices, stride: () => 1 })
  }
  for (const [name, s] of stats) {
    s.release()
    if (s.nonFinite) nonFinite.add(name)
  }
  return stats
}

/**
 * KL, in one pass over the samples: each tensor's values (strided inside the graph for tensors
 * larger than the subsample size) go into a SignedHistogram that doubles its bin width when a
 * sample reaches past it, so no first pass over the maxima is needed. The threshold T is
 * TensorRT's entropy threshold of the |x| histogram (the two sides added); the range is [-T, T]
 * cut to each side's largest value seen (to the bin; `symmetric`: not cut), widened to cover
 * every channel mean seen (ChannelMeanExtremes). A threshold per sign was tried: it saved rec's
 * hard-swish tails but widened det's ranges (held-out cosine 0.918 with one |x| threshold, 0.837
 * per sign, ranges alone on bench:full's pages, README "Calibration data and activation ranges").
 */
async function klRanges(bytes: Uint8Array, names: string[], inputs: Set<string>, set: CalibrationSet, indices: number[], options: RangeOptions, nonFinite: Set<string>): Promise<Map<string, TensorRange>> {
  const hists = new Map(names.map((n) => [n, new SignedHistogram()]))
  const channels = new Map(names.map((n) => [n, new ChannelMeanExtremes()]))
  const strides = new Map<string, number>()
  const progress = reporter('calibrating ranges (KL histograms)', indices.length, options.onProgress)
  let last = -1
  let done = 0
  await exposeTensors(bytes, names, set, (name, data, dims, sample) => {
    const whole = data.length === dims.reduce((a, d) => a * d, 1)
    foldKlValues(hists.get(name)!, channels.get(name)!, data, dims, whole ? null : strides.get(name) ?? 1)
    if (sample !== last) {
      last = sample
      progress(done++)
    }
  }, {
    sampleIndices: indices,
    shapes: true,
    stride: (name, count) => {
      const s = strideFor(count)
      strides.set(name, s)
      return s
    },
  })
  const ranges = new Map<string, TensorRange>()
  const clipped: ClippedInput[] = []
  for (const name of names) {
    const h = hists.get(name)!
    const c = channels.get(name)!
    // the histogram leaves NaN and infinities out already; noted for the caller's warning
    if (c.nonFinite) nonFinite.add(name)
    const t = klAbsThreshold(h)
    if (options.symmetric) {
      const s = Math.max(t, c.max, -c.min)
      ranges.set(name, { min: -s, max: s })
    } else {
      // [-T, T] cut to each side's extent: a side the tensor never reaches gets no codes
      ranges.set(name, { min: -Math.max(Math.min(t, sideExtent(h.side(false), h.width)), -c.min), max: Math.max(Math.min(t, sideExtent(h.side(true), h.width)), c.max) })
    }
    if (inputs.has(name)) {
      const r = ranges.get(name)!
      const cut = clippedShare(h, r.min, r.max)
      if (cut.share > INPUT_CLIP_WARN_SHARE) clipped.push({ tensor: name, ...r, ...cut })
    }
  }
  if (clipped.length) options.onInputClipped?.(clipped)
  return ranges
}

/**
 * Fold one sample of a tensor into its KL statistics. `data` is either the whole tensor (a graph
 * input, straight from the feeds: strided here like the rest) or, with `inGraphStride`, every
 * inGraphStride-th element already (the probe strided it inside the graph, so the histogram takes
 * all of it and only the channel means need to know where each value sat).
 */
export function foldKlValues(h: SignedHistogram, c: ChannelMeanExtremes, data: Float32Array, dims: readonly number[], inGraphStride: number | null): void {
  if (inGraphStride === null) {
    h.add(data, strideFor(data.length))
    c.add(data, dims, 1)
  } else {
    h.add(data, 1)
    c.add(data, dims, inGraphStride)
  }
}

/** The end of a side's last non-empty bin: its largest value, to the bin (0 for an empty side). */
function sideExtent(bins: Float64Array, width: number): number {
  let top = bins.length - 1
  while (top >= 0 && !(bins[top]! > 0)) top--
  return (top + 1) * width
}

/**
 * TensorRT's KL threshold of the histogram's |x| bins (both signs added), cut to the end of the
 * last non-empty bin (the largest |x|, to the bin); 0 when every value was zero.
 */
export function klAbsThreshold(h: SignedHistogram): number {
  const bins = h.abs()
  const extent = sideExtent(bins, h.width)
  if (!(extent > 0)) return 0
  return Math.min(extent, klThreshold(bins, bins.length * h.width))
}

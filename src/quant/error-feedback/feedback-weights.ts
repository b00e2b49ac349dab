import { attr } from '../../onnx/graph-walk.js'
import { int64ToNumber, type ModelProto } from '../../onnx/onnx-types.js'
import type { Feeds } from '../../runtime/feeds.js'
import type { ChannelQuantized, ChannelSums } from '../per-channel.js'
import { correctedDecodeParams, decodeWeights } from '../weight-correction.js'
import type { EncodedWeight, PlannedWeight } from '../weight-quant.js'
import { errorFeedbackCodes } from './error-feedback-rounding.js'
import { inputMoments, momentKey, type MomentRequest, type Moments } from './input-moments.js'

/**
 * A planned weight whose op is a plain matrix product of one input vector per position, so that
 * its output error is (W - W_q) x with x the channel vector the moments are measured on: a 1x1
 * ungrouped Conv (x = the channels at a pixel), a MatMul with a constant [K, N] weight or a Gemm
 * (x = a row). Larger kernels would need patch moments and keep nearest rounding.
 * Element (row r, column k) of the dense rows x cols view sits at r * rowStride + k * colStride.
 */
export interface FeedbackSite {
  weight: PlannedWeight
  input: MomentRequest
  rows: number
  cols: number
  rowStride: number
  colStride: number
}

/** The planned weights error feedback applies to: main-graph ops only (a subgraph's activations cannot be exposed to measure them). */
function feedbackSites(model: ModelProto, planned: readonly PlannedWeight[]): FeedbackSite[] {
  const main = new Set(model.graph?.node ?? [])
  const sites: FeedbackSite[] = []
  for (const w of planned) {
    if (w.site.uses.length !== 1) continue
    const { node, inputIndex, reordered } = w.site.uses[0]!
    const x = node.input?.[0]
    // rows and columns below index the stored values as the op's operand, which a Transpose or
    // Reshape on the way would make a different matrix
    if (!main.has(node) || node.domain || inputIndex !== 1 || reordered || !x) continue
    const dims = w.site.dims
    if (node.op_type === 'Conv') {
      const group = int64ToNumber(attr(node, 'group')?.i) || 1
      if (group !== 1 || w.axis !== 0 || dims.length < 3 || dims.slice(2).some((d) => d !== 1)) continue
      sites.push({ weight: w, input: { tensor: x, channels: dims[1]!, layout: 'channelsFirst', rank: dims.length }, rows: dims[0]!, cols: dims[1]!, rowStride: dims[1]!, colStride: 1 })
    } else if (node.op_type === 'MatMul' || node.op_type === 'Gemm') {
      if (dims.length !== 2) continue
      const transB = node.op_type === 'Gemm' && int64ToNumber(attr(node, 'transB')?.i) === 1
      if (node.op_type === 'Gemm' && int64ToNumber(attr(node, 'transA')?.i)) continue
      // [K, N] with channels on axis 1, or Gemm's transposed [N, K] with channels on axis 0
      if (transB ? w.axis !== 0 : w.axis !== 1) continue
      const [k, n] = transB ? [dims[1]!, dims[0]!] : [dims[0]!, dims[1]!]
      sites.push({ weight: w, input: { tensor: x, channels: k, layout: 'channelsLast' }, rows: n, cols: k, rowStride: transB ? k : 1, colStride: transB ? 1 : n })
    }
  }
  return sites
}

export interface FeedbackOptions {
  /** Dampening of the input moments, as a fraction of their mean diagonal. @default 0.01 */
  damp?: number
  /**
   * Only weights whose input was seen at least this many times per input channel are fed: with
   * fewer vectors than channels the moments are rank-deficient and the feedback fits their null
   * directions (PP-OCRv4 rec at 6 bit on 8 tight word crops: held-out cosine 0.9997 nearest, 0.9935 fed).
   * @default 4
   */
  minVectorsPerChannel?: number
}

/** A feedback site with the second moments of its input over the refinement samples. */
interface MeasuredSite {
  site: FeedbackSite
  moments: Moments
}

/** Measure the input moments of every feedback site over `samples` (one float-model session, after a Shape probe run when an input is wide). */
async function measureSites(original: Uint8Array, sites: readonly FeedbackSite[], samples: readonly Feeds[], minVectorsPerChannel: number): Promise<Map<PlannedWeight, MeasuredSite>> {
  const moments = await inputMoments(original, sites.map((s) => s.input), samples, { minVectorsPerChannel })
  const out = new Map<PlannedWeight, MeasuredSite>()
  for (const site of sites) {
    const m = moments.get(momentKey(site.input))
    if (m) out.set(site.weight, { site, moments: m })
  }
  return out
}

/**
 * Re-round the feedback sites' weights with error feedback on the input moments measured over
 * `samples`, on the grid of their nearest-rounding encoding in `nearest` (same scales and zero
 * points, so only the codes change). Returns the new encodings, keyed like `nearest`.
 */
async function errorFeedbackEncodings(
  original: Uint8Array, sites: readonly FeedbackSite[], nearest: ReadonlyMap<PlannedWeight, EncodedWeight>, samples: readonly Feeds[], options: FeedbackOptions = {},
): Promise<Map<PlannedWeight, EncodedWeight>> {
  const out = new Map<PlannedWeight, EncodedWeight>()
  const minVectors = options.minVectorsPerChannel ?? 4
  for (const [w, m] of await measureSites(original, sites, samples, minVectors)) {
    const enc = nearest.get(w)
    if (!enc || m.moments.count < minVectors * m.site.cols) continue
    try {
      // read once for the encoding and both error measures (float16 or misaligned weights copy)
      const values = m.site.weight.readValues()
      const fed = feedbackEncoding(m.site, values, enc.q, m.moments.h, options)
      // The per-channel mean/variance re-fit of the fed codes can undo what feedback gained, and
      // more: on inputs where a few channels share one strong signal (second moments nearly rank
      // one) a fed MatMul's output error came out 5x nearest rounding's. The choice is per weight:
      // all its fed codes are kept when their output error over all its rows, on the measured
      // moments, is below nearest rounding's, else all its codes stay nearest.
      if (outputError(m.site, values, fed, m.moments.h) < outputError(m.site, values, enc, m.moments.h)) out.set(w, fed)
    } catch (err) {
      // moments too degenerate to factor even after dampening: this weight keeps nearest rounding
      if (!(err instanceof RangeError)) throw err
    }
  }
  return out
}

/** sum over output rows of d^T H d, d the row's decode error: the output error on the measured inputs. */
function outputError(site: FeedbackSite, values: Float32Array, enc: EncodedWeight, h: Float64Array): number {
  const { rows, cols, rowStride, colStride } = site
  const decoded = decodeWeights(enc.q.codes, enc.params, site.weight.site.dims, site.weight.axis)
  const d = new Float64Array(cols)
  let total = 0
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < cols; k++) {
      const at = r * rowStride + k * colStride
      d[k] = values[at]! - decoded[at]!
    }
    for (let i = 0; i < cols; i++) {
      let hd = 0
      for (let j = 0; j < cols; j++) hd += h[i * cols + j]! * d[j]!
      total += d[i]! * hd
    }
  }
  return total
}

/** One weight's error-feedback encoding on the grid of `q`. */
function feedbackEncoding(site: FeedbackSite, values: Float32Array, q: ChannelQuantized, hessian: Float64Array, options: FeedbackOptions = {}): EncodedWeight {
  const { rows, cols, rowStride, colStride } = site
  const dense = new Float64Array(rows * cols)
  for (let r = 0; r < rows; r++) for (let k = 0; k < cols; k++) dense[r * cols + k] = values[r * rowStride + k * colStride]!
  const codes = errorFeedbackCodes(dense, { rows, cols, scale: q.scale, zeroPoint: q.zeroPoint, qmin: q.qmin, qmax: q.qmax }, hessian, { damp: options.damp })
  const stored = q.bits <= 8 ? new Int8Array(values.length) : new Int16Array(values.length)
  const sums: ChannelSums = {
    n: cols,
    sumW: new Float64Array(rows), sumW2: new Float64Array(rows), sumQ: new Float64Array(rows), sumQ2: new Float64Array(rows), sumWQ: new Float64Array(rows),
  }
  for (let r = 0; r < rows; r++) {
    let sw = 0, sw2 = 0, sq = 0, sq2 = 0, swq = 0
    for (let k = 0; k < cols; k++) {
      const at = r * rowStride + k * colStride
      const w = values[at]!
      const c = codes[r * cols + k]!
      stored[at] = c
      sw += w
      sw2 += w * w
      sq += c
      sq2 += c * c
      swq += w * c
    }
    sums.sumW[r] = sw
    sums.sumW2[r] = sw2
    sums.sumQ[r] = sq
    sums.sumQ2[r] = sq2
    sums.sumWQ[r] = swq
  }
  const fed: ChannelQuantized = { ...q, codes: stored }
  // the per-channel mean/variance re-fit as for nearest codes (measured: turning it off for these
  // codes lowered each layer's own output error but not the model's held-out cosine)
  const params = correctedDecodeParams(fed, sums)
  return { q: fed, params, relativeError: params.relativeError }
}

/** What error-feedback rounding did, for the report. */
export interface ErrorFeedbackReport {
  /** Weights whose codes error feedback chose (1x1 Conv, MatMul and Gemm weights of the main graph). */
  weights: string[]
  /** Where the input moments came from. */
  inputs: 'calibration' | 'given' | 'generated'
  /** How many input samples the moments were measured on. */
  samples: number
  /** Time spent measuring moments and rounding, ms. */
  ms: number
}

/**
 * Error-feedback rounding of every feedback site among `planned`, in place in `encoded` (the
 * nearest-rounding encodings at the requested width, whose grids it keeps).
 */
export async function roundWithErrorFeedback(
  original: Uint8Array, model: ModelProto, planned: readonly PlannedWeight[], encoded: Map<PlannedWeight, EncodedWeight>,
  samples: readonly Feeds[], inputs: ErrorFeedbackReport['inputs'], options: FeedbackOptions = {},
): Promise<ErrorFeedbackReport> {
  const started = performance.now()
  const fed = await errorFeedbackEncodings(original, feedbackSites(model, planned), encoded, samples, options)
  for (const [w, e] of fed) encoded.set(w, e)
  return { weights: planned.filter((w) => fed.has(w)).map((w) => w.site.name), inputs, samples: samples.length, ms: performance.now() - started }
}

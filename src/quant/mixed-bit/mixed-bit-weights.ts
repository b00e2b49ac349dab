import { allNames, NameAllocator } from '../../onnx/graph-walk.js'
import type { ModelProto } from '../../onnx/onnx-types.js'
import { axisLayout, type ChannelQuantized } from '../per-channel.js'
import { biasContext, biasSlot, outputShift, setBias } from '../bias-correction.js'
import { correctedDecodeParams, decodeWeights, type DecodeParams } from '../weight-correction.js'
import { encodeWeight, type PlannedWeight, type QuantizedLayer, type WeightPlan } from '../weight-quant.js'
import { channelMaxAbs, channelRms, forEachChannel, range, spanOf } from './channel-stats.js'
import { replaceWithCompactDecode, SPLIT_MAX_CODE } from './compact-decode-nodes.js'
import { channelSums, compactParams, type CompactParams } from './compact-params.js'
import { codeEntropy } from './entropy.js'
import { searchStep, searchStepWith, type StepError } from './step-search.js'

/** One weight of a mixed-bit model, as the report shows it. */
export interface MixedBitLayer {
  tensor: string
  nodes: string[]
  opType: string
  dims: number[]
  elements: number
  /**
   * The searched step, in units of each channel's RMS: channel c decodes as q * step * rms_c (or a
   * coarser step where its outliers would pass ±127 in int8). For a fallback, the mean per-channel scale.
   */
  step: number
  /** The float range of the tensor. */
  min: number
  max: number
  /** ||W - W_hat|| / ||W|| as stored. */
  relativeError: number
  /** Entropy of the stored integers, bits per value: what a good compressor can get it down to. */
  effectiveBits: number
  /** Bits the widest integer needs (sign included). */
  codeBits: number
  /**
   * How the integers are stored: one int8 tensor, or (codes past ±127) an int8 low plane plus a
   * mostly-zero int8 high plane, code = low + 256 * high.
   */
  storage: 'int8' | 'int8x2'
  /** Why the weight fell back to fixed 8-bit per-channel codes, or null. */
  fallback: string | null
  /**
   * The relative error, finer than init_scale, the accuracy guard searched this weight's step for
   * because the output is sensitive to it (init_scale / 2 or / 4); null when it kept init_scale's
   * step (or the guard stored it at fixed 8 bit: then `fallback` says so).
   */
  refinedTo: number | null
}

export interface MixedBitEncoded {
  w: PlannedWeight
  q: ChannelQuantized
  params: DecodeParams
  /** The float16 scales and zero points `params` holds, as the file stores them. */
  compact: CompactParams
  layer: MixedBitLayer
}

/**
 * Encode one weight at its searched step: q = round(w / (step * rms_c)), in int8 when the target
 * can be met that way, else as two int8 planes (low + 256 * high). When no step meets the target
 * within what the planes hold, the weight falls back to fixed 8 bit per channel (the format's rule) and the layer says why.
 */
export function encodeMixedBitWeight(w: PlannedWeight, initScale: number): MixedBitEncoded {
  const values = w.readValues()
  const { min, max } = range(values)
  const base = { tensor: w.site.name, nodes: w.site.uses.map((u) => u.node.name ?? ''), opType: w.site.uses[0]?.node.op_type ?? '', dims: w.site.dims, elements: w.elements, min, max, refinedTo: null }
  // Each output channel is divided by its RMS before the search, so that one step serves
  // every channel at the same relative error. On the raw values a tensor-wide step rounds whole
  // low-magnitude channels (common after BatchNorm folding) to zero: PP-OCRv4 det output
  // cosine 0.949 at init_scale 0.02 that way.
  const { outer, channels, inner } = axisLayout(w.site.dims, w.axis)
  const rms = channelRms(values, outer, channels, inner)
  const normalized = new Float32Array(values.length)
  forEachChannel(outer, channels, inner, (i, c) => { normalized[i] = values[i]! / rms[c]! })
  // int8 when it can serve: a channel whose outliers would need codes past ±127 at the tensor's
  // step gets the finest step that keeps them in range (its own error grows, and the search
  // counts that in the tensor's error). Only when no step gets the tensor to its target that way
  // does it take wider codes at the plain step, stored as two int8 planes (compact-decode-nodes.ts).
  // Measured at 0.02: the plain step for every weight, outliers in the high plane, compresses to
  // the same brotli size on PP-OCRv4 det and rec (within 0.05%) but makes the raw file 1.5x larger,
  // so the floors stay.
  const floor = channelMaxAbs(normalized, outer, channels, inner).map((m) => m / 127)
  const stepFor = (step: number, c: number) => (step > floor[c]! ? step : floor[c]!)
  const int8Error = (step: number): StepError => {
    let err = 0
    let norm = 0
    forEachChannel(outer, channels, inner, (i, c) => {
      const v = normalized[i]!
      const sc = stepFor(step, c)
      // an all-zero channel (real models have them) has a zero floor: it rounds to itself
      const d = sc > 0 ? v - Math.floor(v / sc + 0.5) * sc : v
      err += d * d
      norm += v * v
    })
    return { error: norm > 0 ? Math.sqrt(err / norm) : 0, maxCode: 127 }
  }
  const narrow = int8Error(0).error <= initScale * 1.01
  const found = narrow ? searchStepWith(int8Error, spanOf(normalized), initScale) : searchStep(normalized, initScale)
  let fallback: string | null = null
  if (!found.met) fallback = `no step reaches relative error ${initScale}`
  else if (found.maxCode > SPLIT_MAX_CODE) fallback = `the step for relative error ${initScale} needs codes beyond two int8 planes (max |q| ${found.maxCode})`
  if (fallback) {
    return fixedEightBit(w, { ...base, step: found.step, relativeError: found.error, effectiveBits: 0, codeBits: 0, storage: 'int8', fallback }, fallback)
  }
  const channelStep = Float64Array.from({ length: channels }, (_, c) => (narrow ? stepFor(found.step, c) : found.step))
  let maxCode = 0
  const wide = new Int32Array(values.length)
  forEachChannel(outer, channels, inner, (i, c) => {
    const k = channelStep[c]! > 0 ? Math.floor(normalized[i]! / channelStep[c]! + 0.5) : 0
    wide[i] = k
    if (Math.abs(k) > maxCode) maxCode = Math.abs(k)
  })
  const split = maxCode > 127
  const codes = split ? Int16Array.from(wide) : Int8Array.from(wide)
  const bits = split ? 16 : 8
  const scale = Float32Array.from(rms, (r, c) => r * channelStep[c]!)
  const q: ChannelQuantized = { codes, scale, zeroPoint: new Int32Array(channels), axis: w.axis, bits, qmin: -(2 ** (bits - 1)), qmax: 2 ** (bits - 1) - 1 }
  // The per-channel mean/variance correction of fixed-bit WEIGHT_QUANT (the format's
  // CorrectionMean/CorrectionVar) applies unchanged: it folds into each channel's scale and a
  // float zero point, still decoded at load; both are then stored as float16.
  const sums = channelSums(values, codes, w.site.dims, w.axis)
  const compact = compactParams(values, q, sums, correctedDecodeParams(q, sums), w.site.dims)
  const codeBits = maxCode === 0 ? 1 : Math.ceil(Math.log2(maxCode + 1)) + 1
  return {
    w, q, params: compact.params, compact,
    layer: { ...base, step: found.step, relativeError: compact.params.relativeError, effectiveBits: codeEntropy(codes), codeBits, storage: split ? 'int8x2' : 'int8', fallback: null },
  }
}

/** Fixed 8-bit per-channel codes for a weight the mixed-bit step does not serve, with the reason. */
export function fixedEightBit(w: PlannedWeight, layer: MixedBitLayer, reason: string): MixedBitEncoded {
  const enc = encodeWeight(w, 8)
  const values = w.readValues()
  const compact = compactParams(values, enc.q, channelSums(values, enc.q.codes, w.site.dims, enc.q.axis), enc.params, w.site.dims)
  const mean = compact.params.scale.reduce((a, b) => a + b, 0) / compact.params.scale.length
  return {
    w, q: enc.q, params: compact.params, compact,
    layer: { ...layer, step: mean, relativeError: compact.params.relativeError, effectiveBits: codeEntropy(enc.q.codes), codeBits: 8, storage: 'int8', fallback: reason },
  }
}

/** Every planned weight encoded at `initScale`, in plan order. */
export function encodeMixedBit(plan: WeightPlan, initScale: number): MixedBitEncoded[] {
  return plan.planned.map((w) => encodeMixedBitWeight(w, initScale))
}

/**
 * Rewrite the encoded weights into `model` (the one they were planned on): codes plus the decode
 * that folds at load. With input `means` (real inputs), each op's bias absorbs the mean output
 * shift its rounded weights cause, as in fixed-bit WEIGHT_QUANT.
 */
export function applyMixedBit(
  model: ModelProto, encoded: readonly MixedBitEncoded[], means = new Map<PlannedWeight, Float64Array>(),
): { layers: QuantizedLayer[]; mixed: MixedBitLayer[]; biasCorrected: number } {
  const names = new NameAllocator(allNames(model))
  const layers: QuantizedLayer[] = []
  const mixed: MixedBitLayer[] = []
  let biasCorrected = 0
  const bias = means.size ? biasContext(model, names) : null
  for (const enc of encoded) {
    const w = enc.w
    const m = means.get(w)
    if (m && bias) {
      const shift = outputShift(w.site, w.readValues(), decodeWeights(enc.q.codes, enc.params, w.site.dims, enc.q.axis), m)
      const slot = shift && biasSlot(bias, w.site)
      if (slot) {
        setBias(slot, shift)
        biasCorrected++
      }
    }
    mixed.push(enc.layer)
    layers.push({
      nodes: w.site.uses.map((u) => ({ name: u.node.name ?? '', opType: u.node.op_type ?? '' })), tensor: w.site.name, dims: w.site.dims, elements: w.elements,
      bits: enc.layer.codeBits, axis: enc.q.axis, scale: enc.params.scale, zeroPoint: enc.params.zeroPoint,
      correctionVar: enc.params.correctionVar, correctionMean: enc.params.correctionMean, relativeError: enc.layer.relativeError, clip: 0,
    })
    replaceWithCompactDecode(w.site, enc.q.codes, enc.q.axis, enc.compact, names)
  }
  return { layers, mixed, biasCorrected }
}

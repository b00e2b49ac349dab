import { allNames } from '../../onnx/graph-walk.js'
import type { ModelProto } from '../../onnx/onnx-types.js'
import { NameAllocator, replaceWithDequantNodes } from '../dequant-nodes.js'
import { axisLayout, type ChannelQuantized, type ChannelSums } from '../per-channel.js'
import { biasSlot, outputShift, setBias } from '../bias-correction.js'
import { correctedDecodeParams, decodeWeights, type DecodeParams } from '../weight-correction.js'
import { encodeWeight, type PlannedWeight, type QuantizedLayer, type WeightPlan } from '../weight-quant.js'
import { channelMaxAbs, channelRms, forEachChannel, range, spanOf } from './channel-stats.js'
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
  /** The ONNX type holding the integers. */
  storage: 'int8' | 'int16'
  /** Why the weight fell back to fixed 8-bit per-channel codes, or null. */
  fallback: string | null
}

export interface MixedBitEncoded {
  w: PlannedWeight
  q: ChannelQuantized
  params: DecodeParams
  layer: MixedBitLayer
}

const INT16_MAX = 32767

/**
 * Encode one weight at its searched step: q = round(w / (step * rms_c)), in int8 when the target
 * can be met that way, else int16. When no step meets the target within what int16 holds, the
 * weight falls back to fixed 8 bit per channel (the format's rule) and the layer says why.
 */
export function encodeMixedBitWeight(w: PlannedWeight, initScale: number): MixedBitEncoded {
  const values = w.readValues()
  const { min, max } = range(values)
  const base = { tensor: w.site.name, nodes: w.site.uses.map((u) => u.node.name ?? ''), opType: w.site.uses[0]?.node.op_type ?? '', dims: w.site.dims, elements: w.elements, min, max }
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
  // does it take int16 codes at the plain step. Brotli packs int16 codes poorly: at 0.02 the plain
  // step put 16 of PP-OCRv4 rec's weights in int16 and left the file at 0.95x of fixed 8 bit
  // (0.83x this way), at the same output cosine.
  const floor = channelMaxAbs(normalized, outer, channels, inner).map((m) => m / 127)
  const stepFor = (step: number, c: number) => (step > floor[c]! ? step : floor[c]!)
  const int8Error = (step: number): StepError => {
    let err = 0
    let norm = 0
    forEachChannel(outer, channels, inner, (i, c) => {
      const v = normalized[i]!
      const sc = stepFor(step, c)
      const d = v - Math.floor(v / sc + 0.5) * sc
      err += d * d
      norm += v * v
    })
    return { error: norm > 0 ? Math.sqrt(err / norm) : 0, maxCode: 127 }
  }
  const narrow = int8Error(0).error <= initScale * 1.01
  const found = narrow ? searchStepWith(int8Error, spanOf(normalized), initScale) : searchStep(normalized, initScale)
  let fallback: string | null = null
  if (!found.met) fallback = `no step reaches relative error ${initScale}`
  else if (found.maxCode > INT16_MAX) fallback = `the step for relative error ${initScale} needs codes beyond int16 (max |q| ${found.maxCode})`
  if (fallback) {
    return fixedEightBit(w, { ...base, step: found.step, relativeError: found.error, effectiveBits: 0, codeBits: 0, storage: 'int8', fallback }, fallback)
  }
  const channelStep = Float64Array.from({ length: channels }, (_, c) => (narrow ? stepFor(found.step, c) : found.step))
  const codes = narrow ? new Int8Array(values.length) : new Int16Array(values.length)
  forEachChannel(outer, channels, inner, (i, c) => { codes[i] = Math.floor(normalized[i]! / channelStep[c]! + 0.5) })
  let maxCode = 0
  for (let i = 0; i < codes.length; i++) maxCode = Math.max(maxCode, Math.abs(codes[i]!))
  const bits = narrow ? 8 : 16
  const scale = Float32Array.from(rms, (r, c) => r * channelStep[c]!)
  const q: ChannelQuantized = { codes, scale, zeroPoint: new Int32Array(channels), axis: w.axis, bits, qmin: -(2 ** (bits - 1)), qmax: 2 ** (bits - 1) - 1 }
  // The per-channel mean/variance correction of fixed-bit WEIGHT_QUANT (the format's
  // CorrectionMean/CorrectionVar) applies unchanged: it folds into each channel's scale and a
  // float zero point, still decoded at load.
  const sums: ChannelSums = {
    n: outer * inner, sumW: new Float64Array(channels), sumW2: new Float64Array(channels),
    sumQ: new Float64Array(channels), sumQ2: new Float64Array(channels), sumWQ: new Float64Array(channels),
  }
  forEachChannel(outer, channels, inner, (i, c) => {
    const v = values[i]!
    const k = codes[i]!
    sums.sumW[c]! += v
    sums.sumW2[c]! += v * v
    sums.sumQ[c]! += k
    sums.sumQ2[c]! += k * k
    sums.sumWQ[c]! += v * k
  })
  const params = correctedDecodeParams(q, sums)
  const relativeError = params.relativeError
  const codeBits = maxCode === 0 ? 1 : Math.ceil(Math.log2(maxCode + 1)) + 1
  return { w, q, params, layer: { ...base, step: found.step, relativeError, effectiveBits: codeEntropy(codes), codeBits, storage: narrow ? 'int8' : 'int16', fallback: null } }
}

/** Fixed 8-bit per-channel codes for a weight the mixed-bit step does not serve, with the reason. */
export function fixedEightBit(w: PlannedWeight, layer: MixedBitLayer, reason: string): MixedBitEncoded {
  const enc = encodeWeight(w, 8)
  const mean = enc.params.scale.reduce((a, b) => a + b, 0) / enc.params.scale.length
  return {
    w, q: enc.q, params: enc.params,
    layer: { ...layer, step: mean, relativeError: enc.relativeError, effectiveBits: codeEntropy(enc.q.codes), codeBits: 8, storage: 'int8', fallback: reason },
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
  for (const enc of encoded) {
    const w = enc.w
    const m = means.get(w)
    if (m) {
      const shift = outputShift(w.site, w.readValues(), decodeWeights(enc.q.codes, enc.params, w.site.dims, enc.q.axis), m)
      const slot = shift && biasSlot(model, w.site, names)
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
    replaceWithDequantNodes(w.site, enc.q, enc.params, names)
  }
  return { layers, mixed, biasCorrected }
}

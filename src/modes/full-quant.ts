import { collectActivationRanges, type ClippedInput } from '../calibrate/activation-ranges.js'
import { inputClippedWarning } from '../calibrate/clipped-input-warning.js'
import { openCalibrationSet, samplesSet } from '../calibrate/calibration-set.js'
import { type ActivationQuantMethod, type QuantConfig, type TargetDevice } from '../cfg/index.js'
import { QuantizeError } from '../errors.js'
import { decodeModelProto, encodeModelProto } from '../onnx/codec.js'
import { DataType } from '../onnx/onnx-types.js'
import { exposedNames } from '../onnx/exposed-constants.js'
import { everyInitializerListedWarning, listsEveryInitializer } from '../onnx/overridable-initializers.js'
import { tensorDims } from '../onnx/tensor-data.js'
import { foldForInt8, type FoldReport } from '../quant/fold/fold-model.js'
import { meanRequest, outputShift } from '../quant/full/bias-shift.js'
import { channelMeans, type ChannelRequest } from '../quant/full/channel-means.js'
import { deviceProfile } from '../quant/full/device-profile.js'
import { defaultOpPolicy } from '../quant/full/op-policy.js'
import { clearlyWorse, mean, OutputJudge } from '../quant/full/output-cosines.js'
import { activationQuantParams, applyQdq, prepareQdq, QdqUnsupportedError, type QdqSettings } from '../quant/full/qdq-model.js'
import type { FloatNode } from '../quant/full/qdq-plan.js'
import type { BiasShift, RewrittenWeight } from '../quant/full/qdq-rewrite.js'
import type { QuantizedLayer, SkippedWeight } from '../quant/weight-quant.js'
import type { ModeContext, ModeResult } from './mode.js'
import { tallyReasons } from './reason-tally.js'
import { distinctDecimals } from '../report/distinct-decimals.js'

/** One quantized activation: its calibrated range and the parameters derived from it. */
export interface ActivationQuant {
  tensor: string
  /** The calibrated range (of the Relu after it when that Relu was absorbed). */
  min: number
  max: number
  scale: number
  zeroPoint: number
  /** A pass-through op's output shares the parameters of this tensor. */
  sharedWith: string | null
}

/** FULL_QUANT details for the report. */
export interface FullQuantReport {
  method: ActivationQuantMethod
  targetDevice: TargetDevice
  /** The encoding the device profile chose (README, "How FULL_QUANT works"). */
  profile: {
    activations: 'int8' | 'uint8'
    symmetricActivations: boolean
    weights: 'int8' | 'uint8'
    /** Per-channel weights symmetric (zero point 0). */
    symmetricWeights: boolean
    perChannelWeights: boolean
    /** Op types whose weights are per channel when perChannelWeights; the rest per tensor. */
    perChannelOps: string[]
    /** Per-tensor weights symmetric (zero point 0). */
    symmetricTensorWeights: boolean
  }
  /** Calibration samples the ranges were measured on, and where they came from. */
  samples: number
  inputs: 'calibration' | 'given'
  /** Exact float simplifications made before quantizing. */
  fold: FoldReport
  /** The opset the model was lifted from to 13 (per-channel DequantizeLinear needs it), else null. */
  opsetUpgradedFrom: number | null
  activations: ActivationQuant[]
  /** Nodes that run on int8 data (fused by onnxruntime into QLinear* kernels). */
  quantizedNodes: { name: string; opType: string }[]
  /** Nodes of quantizable types left float, and why. */
  floatNodes: { name: string; opType: string; why: string }[]
  /** Relu/Clip nodes absorbed into the zero point of the op before them. */
  absorbedActivations: string[]
  biasCorrection: {
    enabled: boolean
    /** Samples the input means were measured on (the first of the calibration set). */
    samples: number
    /** Whether the corrected biases were kept (left out only when they lowered output cosine on the check samples beyond the samples' spread). */
    applied: boolean
    /** Weighted ops whose bias took the correction (0 when not applied). */
    corrected: number
    /** Output cosine vs float on the first calibration samples without and with the correction; null when off. */
    cosineWithout: number | null
    cosineWith: number | null
  }
  timingsMs: { fold: number; calibration: number; biasCorrection: number; rewrite: number }
  notes: string[]
}

/** Per-channel input means for bias correction settle within a few samples; more would only cost runs. */
const STATISTICS_SAMPLES = 16
/** Calibration samples the bias-correction check compares the two variants on. */
const BIAS_CHECK_SAMPLES = 4

/**
 * FULL_QUANT: fold exact float simplifications, calibrate activation ranges on the calibration
 * set, and rewrite the model in QDQ form (int8 weights, int32 biases, Q/DQ pairs on
 * activations) that onnxruntime fuses into integer kernels. See README, "How FULL_QUANT works".
 */
export async function quantizeFull(ctx: ModeContext): Promise<ModeResult> {
  const { model, cfg, options } = ctx
  const fq = cfg.fullQuant
  const progress = options.onProgress
  // the rewrite reads every weight as float from the protobuf; external data is not read here
  if (ctx.hasExternalData) throw new QuantizeError(ctx.label, 'FULL_QUANT does not support models with external data yet', 'unsupported')
  const set = options.samples ? samplesSet(options.samples) : await openCalibrationSet(ctx.specs, cfg, ctx.warnings)
  if (set.count === 0) throw new QuantizeError(cfg.source, 'FULL_QUANT needs at least one calibration sample', 'config')

  // what the caller sees, and whether every initializer is listed as an input (an exporter's
  // habit), read as the model came: the fold adds initializers of its own
  const exposed = exposedNames(model)
  const listedBefore = model.graph && listsEveryInitializer(model, model.graph) ? (model.graph.initializer ?? []).map((t) => t.name ?? '') : []
  let t = performance.now()
  progress?.('folding float simplifications')
  const fold = foldForInt8(model)
  const foldMs = performance.now() - t

  const settings = fullQuantSettings(cfg)
  let prepared: ReturnType<typeof prepareQdq>
  try {
    prepared = prepareQdq(model, settings, exposed)
  } catch (err) {
    if (err instanceof QdqUnsupportedError) throw new QuantizeError(ctx.label, err.message, 'unsupported', { cause: err })
    throw err
  }
  ctx.warnings.push(...prepared.warnings)
  // a model left entirely float is worth a word, not just a 100% size in the summary
  if (prepared.plan.quantized.length === 0 && prepared.plan.weightOnly.length === 0) {
    const list = tallyReasons(prepared.plan.leftFloat.map((f) => `${f.op}: ${f.why}`))
    ctx.warnings.push(`FULL_QUANT quantized no node, the output is the float model${list ? ` (${list})` : ''}`)
  }
  // Bias correction measures input means on the first samples and checks its effect on the
  // last ones: disjoint when the set is large enough, so the check does not grade its own fit.
  const checkSamples = Array.from({ length: Math.min(set.count, BIAS_CHECK_SAMPLES) }, (_, i) => set.count - 1 - i)
  const meanCount = set.count >= BIAS_CHECK_SAMPLES * 2 ? Math.min(set.count - BIAS_CHECK_SAMPLES, STATISTICS_SAMPLES) : Math.min(set.count, STATISTICS_SAMPLES)
  const meanSamples = Array.from({ length: meanCount }, (_, i) => i)

  // the float model as it stands now (folded, opset lifted): its tensor names are the ones planned
  const floatBytes = encodeModelProto(model)

  t = performance.now()
  progress?.(`calibrating ${prepared.plan.rangeTensors.length} activation ranges on ${set.count} samples (${fq.activationQuantMethod})`)
  const onNonFinite = (tensors: string[]): void => {
    const names = `${tensors.slice(0, 5).map((t) => `'${t}'`).join(', ')}${tensors.length > 5 ? `, … ${tensors.length - 5} more` : ''}`
    ctx.warnings.push(`${tensors.length} activation(s) held NaN or ±Infinity on calibration samples (${names}): their int8 ranges cover their finite values, and an infinity becomes the end of its range`)
  }
  const onInputClipped = (inputs: ClippedInput[]): void => {
    for (const c of inputs) ctx.warnings.push(inputClippedWarning(c))
  }
  const ranges = await collectActivationRanges(floatBytes, prepared.plan.rangeTensors, set, fq.activationQuantMethod, { onProgress: progress, symmetric: prepared.profile.symmetricActivations, onNonFinite, onInputClipped })
  const calibrationMs = performance.now() - t

  const params = activationQuantParams(prepared, ranges)

  const plan = prepared.plan

  t = performance.now()
  let shift: BiasShift | null = null
  // the cfg's bias_correction, which the library's biasCorrection: false turns off as in the other modes
  const biasCorrection = fq.biasCorrection && options.biasCorrection !== false
  if (biasCorrection) {
    const requests = new Map<string, ChannelRequest>()
    for (const q of plan.quantized) {
      if (q.kind !== 'weighted') continue
      const r = meanRequest(q, tensorDims(prepared.index.constants.get(q.weight!)!.tensor))
      if (r) requests.set(r.tensor, r)
    }
    progress?.(`measuring input means for bias correction on ${meanSamples.length} samples`)
    const means = await channelMeans(floatBytes, [...requests.values()], set, meanSamples)
    shift = (q, original, decoded) => {
      const m = means.get(q.activationInputs[0]!)
      return m ? outputShift(q, tensorDims(prepared.index.constants.get(q.weight!)!.tensor), original, decoded, m) : null
    }
  }
  const biasMs = performance.now() - t

  t = performance.now()
  progress?.('inserting QuantizeLinear/DequantizeLinear')
  // without correction: the same plan on a copy of the float model (names are allocated alike)
  const plain = shift ? prepareQdq(decodeModelProto(floatBytes), settings, exposed) : prepared
  const plainWeights = applyQdq(plain, params, null)
  const correctedWeights = shift ? applyQdq(prepared, params, shift) : plainWeights
  const rewriteMs = performance.now() - t

  // The correction removes a mean shift; whether that helps the output depends on the model
  // (measured: it can hurt when a tensor's own rounding dominates), so it is left out when the
  // output on calibration samples agrees clearly worse with float: by more than sample noise, as
  // per-sample cosines spread widely (PP-OCRv4 rec: judged by the mean of 4 samples it was left
  // out, 0.9626 → 0.9563, yet it raised 100 held-out words' cosine 0.9702 → 0.9751 and identical
  // texts 72% → 77%; on the last 16 calibration samples it also wins, 0.9644 → 0.9652).
  let cosineWithout: number | null = null
  let cosineWith: number | null = null
  let applied = false
  if (shift) {
    progress?.('checking bias correction on calibration samples')
    const judge = await OutputJudge.create(floatBytes, await Promise.all(checkSamples.map((i) => set.sample(i))))
    const without = await judge.cosines(encodeModelProto(plain.model))
    const withIt = await judge.cosines(encodeModelProto(prepared.model))
    cosineWithout = mean(without)
    cosineWith = mean(withIt)
    applied = !clearlyWorse(without, withIt)
    const on = judge.count === 1 ? 'on the one calibration sample it was checked on' : `on ${judge.count} calibration samples beyond their spread`
    if (!applied) {
      const [a, b] = distinctDecimals(cosineWith, cosineWithout)
      ctx.warnings.push(`bias correction left out: it lowered output cosine ${on} (${a} vs ${b} without)`)
    }
  }
  const chosen = applied ? prepared : plain
  const inputsNow = new Set((chosen.model.graph?.input ?? []).map((i) => i.name))
  const unlisted = listedBefore.filter((name) => !inputsNow.has(name)).length
  if (unlisted) ctx.warnings.push(everyInitializerListedWarning(listedBefore.length, unlisted))
  const rewritten = applied ? correctedWeights : plainWeights
  const corrected = applied ? rewritten.filter((w) => w.correctedAdd || (w.bias && w.biasCodes)) : []
  const report: FullQuantReport = {
    method: fq.activationQuantMethod,
    targetDevice: fq.targetDevice,
    profile: {
      activations: prepared.profile.activationType === DataType.INT8 ? 'int8' : 'uint8',
      symmetricActivations: prepared.profile.symmetricActivations,
      weights: prepared.profile.weightType === DataType.INT8 ? 'int8' : 'uint8',
      symmetricWeights: prepared.profile.symmetricWeights,
      perChannelWeights: prepared.profile.perChannelWeights,
      perChannelOps: [...prepared.profile.perChannelOps],
      symmetricTensorWeights: prepared.profile.symmetricTensorWeights,
    },
    samples: set.count,
    inputs: options.samples ? 'given' : 'calibration',
    fold,
    opsetUpgradedFrom: prepared.upgradedFrom,
    activations: [...plan.tensors.values()].map((p) => {
      const source = p.sharesWith ? plan.tensors.get(p.sharesWith)! : p
      const r = ranges.get(source.rangeOf)!
      const qp = params.get(source.rangeOf)!
      return { tensor: p.name, min: r.min, max: r.max, scale: qp.scale, zeroPoint: qp.zeroPoint, sharedWith: p.sharesWith }
    }),
    quantizedNodes: plan.quantized.map((q) => ({ name: q.node.name ?? '', opType: q.node.op_type ?? '' })),
    floatNodes: plan.leftFloat.map((f) => ({ name: f.node, opType: f.op, why: f.why })),
    absorbedActivations: plan.absorbed,
    biasCorrection: {
      enabled: biasCorrection,
      applied,
      samples: biasCorrection ? meanSamples.length : 0,
      corrected: corrected.length,
      cosineWithout,
      cosineWith,
    },
    timingsMs: { fold: foldMs, calibration: calibrationMs, biasCorrection: biasMs, rewrite: rewriteMs },
    notes: [...fold.notes, ...(prepared.upgradedFrom !== null ? [`opset ${prepared.upgradedFrom} lifted to 13 for per-channel DequantizeLinear`] : [])],
  }
  // the report names the weights as the user's model does, not by the fold's new constants
  const originalNames = new Map(fold.renamed.map((r) => [r.tensor, r.original]))
  const named = <T extends { tensor: string }>(l: T): T => ({ ...l, tensor: originalNames.get(l.tensor) ?? l.tensor })
  return {
    model: chosen.model,
    biasCorrected: corrected.length,
    layers: rewritten.map(layerOf).map(named),
    skipped: skippedWeights(plan.leftFloat).map(named),
    warnings: [],
    accuracy: null,
    full: report,
    debugReference: floatBytes,
    originalNames,
  }
}

/**
 * What the QDQ plan reads from the cfg (device profile, op policy, skip list, size thresholds).
 * One place, so that the accuracy guard's output-cost ranking plans exactly as this mode does.
 */
export function fullQuantSettings(cfg: QuantConfig): QdqSettings {
  return {
    profile: deviceProfile(cfg.fullQuant.targetDevice, cfg.fullQuant.perChannel),
    policy: defaultOpPolicy(),
    skipQuantNode: new Set(cfg.skipQuantNode),
  }
}

function layerOf(w: RewrittenWeight): QuantizedLayer {
  const { original, weight } = w
  let err = 0
  let norm = 0
  for (let i = 0; i < original.length; i++) {
    const d = original[i]! - weight.decoded[i]!
    err += d * d
    norm += original[i]! * original[i]!
  }
  const channels = weight.scale.length
  return {
    nodes: [{ name: w.q.node.name ?? '', opType: w.q.node.op_type ?? '' }],
    tensor: w.q.weight!,
    dims: w.dims,
    elements: original.length,
    bits: 8,
    axis: weight.axis ?? -1,
    scale: weight.scale,
    zeroPoint: Float32Array.from(weight.zeroPoint),
    correctionVar: new Float32Array(channels).fill(1),
    correctionMean: new Float32Array(channels),
    relativeError: norm > 0 ? Math.sqrt(err / norm) : 0,
    clip: 0,
  }
}

/** Weighted ops the cfg kept float, in the form every mode reports skipped weights. */
function skippedWeights(floatNodes: FloatNode[]): SkippedWeight[] {
  return floatNodes.flatMap((f) => (f.weight && f.code ? [{ nodes: [{ name: f.node, opType: f.op }], tensor: f.weight.name, dims: f.weight.dims, reason: f.code }] : []))
}

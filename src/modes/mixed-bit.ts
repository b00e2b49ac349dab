import { QuantizeError } from '../errors.js'
import { decodeModelProto, encodeModelProto } from '../onnx/codec.js'
import type { ModelProto } from '../onnx/onnx-types.js'
import { tuneInitScale, type TunePoint } from '../quant/mixed-bit/auto-tune.js'
import { applyMixedBit, encodeMixedBit, type MixedBitEncoded, type MixedBitLayer } from '../quant/mixed-bit/mixed-bit-weights.js'
import { refineSensitiveWeights } from '../quant/mixed-bit/sensitive-refinement.js'
import { scoreThreads } from '../quant/rank-weights.js'
import { inputChannelMeans } from '../quant/input-channel-means.js'
import { planWeights, type PlannedWeight, type WeightPlan } from '../quant/weight-quant.js'
import type { TunedAccuracy } from '../quantize-model.js'
import { compareModels, RecordedReference } from '../runtime/compare-models.js'
import { tuningFeeds, type Feeds } from '../runtime/feeds.js'
import { refinementSamples, type RefinementSamples } from '../runtime/refinement-samples.js'
import { guarded } from '../runtime/guarded-refinement.js'
import { verificationSamples } from '../runtime/verify.js'
import { notRunExternal, type ModeContext, type ModeResult } from './mode.js'

/** What auto_tune searched and chose. */
export interface MixedBitTuning {
  chosen: number
  /** Whether the chosen init_scale keeps output cosine (compareModels: the least output's) >= goal on the tuning inputs. */
  reached: boolean
  goal: number
  inputs: 'calibration' | 'generated' | 'given'
  samples: number
  curve: TunePoint[]
}

/** bit_num=0 details for the report. */
export interface MixedBitReport {
  /** The init_scale the weights were quantized with (auto_tune's choice when it ran). */
  initScale: number
  /** Per weight: step, range, relative error, effective bits, storage type, fallback, and the accuracy guard's finer relative error (`refinedTo`). */
  layers: MixedBitLayer[]
  /** Weights stored at fixed 8 bit: no step met their relative error, or the accuracy guard chose it. */
  fallbacks: number
  /** Element-weighted mean of the layers' effective bits. */
  meanEffectiveBits: number
  /** auto_tune's search; null when auto_tune is off. */
  autoTune: MixedBitTuning | null
  notes: string[]
}

/** auto_tune keeps output cosine vs fp32 (compareModels: the least output's) at or above this (the format's figure). */
export const AUTO_TUNE_GOAL = 0.995
const TUNE_SAMPLES = 4

function plan(model: ModelProto, ctx: ModeContext): WeightPlan {
  const { cfg, ext } = ctx
  return planWeights(model, ext ?? undefined, {
    bits: 8, minQuantWeightSize: cfg.minQuantWeightSize, minQuantWeightChannel: cfg.minQuantWeightChannel, skipQuantNode: cfg.skipQuantNode,
  })
}

async function tuningSamples(ctx: ModeContext, real: RefinementSamples | null): Promise<{ samples: Feeds[]; inputs: MixedBitTuning['inputs'] }> {
  if (ctx.options.samples) return { samples: ctx.options.samples, inputs: 'given' }
  // the refinement's first samples, as made once for it: calibration files, or generated inputs
  // of the tuning seeds
  if (real) return { samples: real.samples.slice(0, TUNE_SAMPLES), inputs: real.inputs }
  // Without data, the tuning seeds too: verification grades on its own seeds (1234 on), and an
  // init_scale chosen on those would be graded on the inputs it was fitted to.
  if (!ctx.cfg.dataPreprocess) return { samples: tuningFeeds(ctx.specs, TUNE_SAMPLES), inputs: 'generated' }
  // calibration data the refinement could not read: read again, so its error is the user's
  return verificationSamples(ctx.specs, ctx.cfg, TUNE_SAMPLES, ctx.warnings)
}

async function autoTune(ctx: ModeContext, real: RefinementSamples | null): Promise<MixedBitTuning> {
  const { samples, inputs } = await tuningSamples(ctx, real)
  const cannotRun = (err: unknown) => new QuantizeError(ctx.label, `auto_tune could not run the model on ${inputs} inputs: ${(err as Error).message.split('\n')[0]}`, 'input', { cause: err })
  // the float model's outputs once, not once per init_scale tried
  let reference: RecordedReference
  try {
    reference = await RecordedReference.record(ctx.bytes, samples)
  } catch (err) {
    throw cannotRun(err)
  }
  const tuned = await tuneInitScale(async (initScale) => {
    ctx.options.onProgress?.(`auto_tune: trying init_scale ${initScale}`)
    // each candidate starts from the float model's bytes; the context's model is left untouched
    const copy = decodeModelProto(ctx.bytes)
    const { mixed } = applyMixedBit(copy, encodeMixedBit(plan(copy, ctx), initScale))
    let cosine: number
    try {
      cosine = (await compareModels(reference, encodeModelProto(copy), samples)).cosine
    } catch (err) {
      throw cannotRun(err)
    }
    const entropyBytes = Math.round(mixed.reduce((a, l) => a + (l.elements * l.effectiveBits) / 8, 0))
    return { initScale, cosine, entropyBytes }
  }, { goal: AUTO_TUNE_GOAL })
  return { ...tuned, goal: AUTO_TUNE_GOAL, inputs, samples: samples.length }
}

/**
 * bit_num=0: each weight gets the one quantization step whose relative error is init_scale
 * (within 1%), its integers stored as int8 (plus a mostly-zero high int8 plane for codes past
 * ±127) and its per-channel scales and zero points as float16; with auto_tune the
 * init_scale giving the most compression at output cosine >= 0.995 is searched first. With inputs
 * (given, calibration or generated), bias correction and the accuracy guard follow.
 */
export async function quantizeMixedBit(ctx: ModeContext): Promise<ModeResult> {
  const notes: string[] = []
  let initScale = ctx.cfg.mixedBit.initScale
  let tuning: MixedBitTuning | null = null
  const real = ctx.hasExternalData ? null : await refinementSamples(ctx.specs, ctx.cfg, ctx.options.samples, ctx.warnings, ctx.options.accuracyTarget !== false)
  if (ctx.cfg.mixedBit.autoTune) {
    // a model with external data: said below, with the other steps it does not get
    if (!ctx.hasExternalData) {
      tuning = await autoTune(ctx, real)
      initScale = tuning.chosen
      notes.push(`auto_tune chose init_scale ${initScale} on ${tuning.samples} ${tuning.inputs} inputs after ${tuning.curve.length} trials`)
      if (!tuning.reached) ctx.warnings.push(`auto_tune: no init_scale tried keeps output cosine >= ${AUTO_TUNE_GOAL}; using the finest, ${initScale}`)
      // generated noise can leave a model's output saturated (cosine 1 at any init_scale), so the
      // choice says little about real inputs
      if (tuning.inputs === 'generated') ctx.warnings.push(`auto_tune ran on generated inputs (no calibration data) and chose init_scale ${initScale}: give calibrate_path or samples to tune on real ones`)
    }
  }
  ctx.options.onProgress?.(`mixed-bit quantization at init_scale ${initScale}`)
  const p = plan(ctx.model, ctx)
  let encoded = encodeMixedBit(p, initScale)
  if (ctx.hasExternalData) {
    // as below: inputs exist with samples or calibration data, or generated ones where the target runs
    const target = ctx.options.accuracyTarget !== false
    const data = encoded.length > 0 && (ctx.options.samples !== undefined || ctx.cfg.dataPreprocess !== null || target)
    const warning = notRunExternal([ctx.cfg.mixedBit.autoTune && 'auto_tune', data && ctx.options.biasCorrection !== false && 'bias correction', data && target && 'the accuracy target'])
    if (warning) ctx.warnings.push(`mixed bit: ${warning}${ctx.cfg.mixedBit.autoTune ? `; init_scale ${initScale} used` : ''}`)
  }
  let means = new Map<PlannedWeight, Float64Array>()
  if (real && encoded.length && ctx.options.biasCorrection !== false) {
    ctx.options.onProgress?.('mixed bit: measuring input means for bias correction')
    means = await guarded(() => inputChannelMeans(ctx.model, ctx.bytes, p.planned, real.samples), means, 'mixed bit: bias correction', real.inputs, ctx.warnings)
  }
  // Without any inputs nothing checks the output: near init_scale 0.02 PP-OCRv4 det's cosine is
  // anywhere from 0.976 to 0.994 as init_scale moves by 5% (one small conv's rounding shifts the
  // mean of a channel its output is very sensitive to), so say so as fixed-bit WEIGHT_QUANT does.
  if (!real && !ctx.hasExternalData && encoded.length && ctx.options.accuracyTarget !== false) {
    ctx.warnings.push('mixed bit: accuracy target not checked: give calibration data (calibrate_path) or samples to enable it')
  }
  const guard = real ? await guarded(() => accuracyGuard(ctx, encoded, initScale, real, means), null, 'mixed bit: accuracy target', real.inputs, ctx.warnings) : null
  if (guard) {
    encoded = guard.encoded
    if (guard.note) notes.push(guard.note)
    if (!guard.report.reached) ctx.warnings.push(`mixed bit: accuracy target ${guard.report.target} not reached on ${guard.report.inputs} inputs (cosine ${guard.report.cosineAfter.toFixed(6)})`)
  }
  const { layers, mixed, biasCorrected } = applyMixedBit(ctx.model, encoded, means)
  const fallbacks = mixed.filter((l) => l.fallback).length
  if (fallbacks) ctx.warnings.push(`mixed bit: ${fallbacks} weight(s) fell back to fixed 8 bit (see mixedBit.layers[].fallback)`)
  const elements = mixed.reduce((a, l) => a + l.elements, 0)
  const report: MixedBitReport = {
    initScale, layers: mixed, fallbacks,
    meanEffectiveBits: elements ? mixed.reduce((a, l) => a + l.elements * l.effectiveBits, 0) / elements : 0,
    autoTune: tuning, notes,
  }
  return { layers, skipped: p.skipped, warnings: p.warnings, biasCorrected, accuracy: guard?.report ?? null, mixedBit: report }
}

/**
 * The accuracy target on real inputs (the caller's samples or the cfg's calibration data; without
 * data, generated natural-looking inputs): a relative weight error says little about a layer's
 * effect on the output (on PP-OCRv4 det one 48x48 pointwise conv decides most of it), so when the
 * output cosine misses the target the most output-sensitive weights get finer steps
 * (init_scale / 2 or / 4) or fixed 8 bit, chosen by predicted cosine gained per byte, at most
 * 25% of the weight elements (src/quant/mixed-bit/sensitive-refinement.ts). Off with
 * `accuracyTarget: false`. The report's `escalated` lists the weights it stored at fixed 8 bit;
 * each layer's `refinedTo` the ones it gave a finer step.
 */
async function accuracyGuard(
  ctx: ModeContext, encoded: MixedBitEncoded[], initScale: number, real: RefinementSamples, means: Map<PlannedWeight, Float64Array>,
): Promise<{ encoded: MixedBitEncoded[]; report: TunedAccuracy; note: string | null } | null> {
  const target = ctx.options.accuracyTarget === false ? null : ctx.options.accuracyTarget ?? AUTO_TUNE_GOAL
  if (target === null || encoded.length === 0) return null
  ctx.options.onProgress?.('mixed bit: measuring layer sensitivity in onnxruntime-node')
  // aim at half the error budget so that the target holds on inputs the search did not see
  const aim = 1 - (1 - target) / 2
  const ref = await refineSensitiveWeights(ctx.bytes, encoded, real.samples.slice(0, TUNE_SAMPLES), { target: aim, initScale, threads: scoreThreads(ctx.options.threads) }, means)
  if (!ref) return null
  const changed = ref.encoded.filter((e, i) => e !== encoded[i])
  const fixed = changed.filter((e) => e.layer.refinedTo === null).map((e) => e.w.site.name)
  const finer = changed.filter((e) => e.layer.refinedTo !== null).map((e) => `${e.w.site.name} (${e.layer.refinedTo})`)
  const note = changed.length
    ? `accuracy guard: ${finer.length} weight(s) given finer steps${finer.length ? ` (relative error): ${finer.join(', ')}` : ''}; ${fixed.length} stored at fixed 8 bit${fixed.length ? `: ${fixed.join(', ')}` : ''}`
    : null
  return {
    encoded: ref.encoded,
    note,
    report: { target, inputs: real.inputs, cosineBefore: ref.cosineBefore, cosineAfter: ref.cosineAfter, reached: ref.cosineAfter >= target, escalatedBits: 8, escalated: fixed, widths: Object.fromEntries(fixed.map((n) => [n, 8])), scored: ref.scored, rankingThreads: ref.rankingThreads, rankingSamples: ref.rankingSamples },
  }
}

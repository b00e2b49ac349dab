import { allNames, opsetVersion, NameAllocator } from '../onnx/graph-walk.js'
import { everyInitializerListedWarning, listsEveryInitializer } from '../onnx/overridable-initializers.js'
import type { ModelProto } from '../onnx/onnx-types.js'
import { checkedFloatLength, type ExternalDataSource, tensorToFloat32 } from '../onnx/tensor-data.js'
import { replaceWithDequantNodes } from './dequant-nodes.js'
import { quantizePerChannel, type ChannelQuantized } from './per-channel.js'
import { correctedDecodeParams, decodeWeights, type DecodeParams } from './weight-correction.js'
import { findWeightSites, type WeightSite } from './weight-sites.js'
import { unreachedWeights } from './unreached-weights.js'
import { biasContext, biasSlot, outputShift, setBias } from './bias-correction.js'
import { firstNonFiniteIn } from '../runtime/non-finite.js'

export interface WeightQuantOptions {
  /** 1-16; codes are stored as int8 up to 8 bits and int16 above. */
  bits: number
  minQuantWeightSize: number
  minQuantWeightChannel: number
  skipQuantNode: readonly string[]
}

/** One quantized weight tensor, with what the report and the debug CSVs need. */
export interface QuantizedLayer {
  nodes: { name: string; opType: string }[]
  tensor: string
  dims: number[]
  elements: number
  bits: number
  axis: number
  scale: Float32Array
  zeroPoint: Float32Array
  correctionVar: Float32Array
  correctionMean: Float32Array
  /** ||W - W_hat|| / ||W|| */
  relativeError: number
  /** Share of the float values outside the range the codes can represent. */
  clip: number
}

export type SkipReason =
  | 'rank < 2' | 'min_quant_weight_size' | 'min_quant_weight_channel' | 'skip_quant_node'
  | 'also read as a non-weight input' | 'uses disagree on the channel axis' | 'opset < 7'
  | 'a graph output' | 'an overridable graph input' | 'bound or read by training_info'
  | 'NaN or ±Infinity in its values' | 'defined more than once in the model' | 'reaches its op through other ops'
  | 'a sparse initializer' | 'inside a model-local function'

export interface SkippedWeight {
  nodes: { name: string; opType: string }[]
  tensor: string
  dims: number[]
  reason: SkipReason
}

export interface WeightQuantResult {
  /** How many weights' op biases were corrected for the rounding's mean shift. */
  biasCorrected: number
  layers: QuantizedLayer[]
  skipped: SkippedWeight[]
  warnings: string[]
}

function nodesOf(site: WeightSite): { name: string; opType: string }[] {
  const nodes = site.uses.length ? site.uses.map((u) => u.node) : site.unfollowed
  return nodes.map((n) => ({ name: n.name ?? '', opType: n.op_type ?? '' }))
}

function skipReason(site: WeightSite, opts: WeightQuantOptions, skipNames: Set<string>): SkipReason | null {
  // no use: the reasons that hold whatever the path, before saying the path is not followed
  // (followReshapes stops at a reshaped weight handed out as a graph output)
  if (site.uses.length === 0) return site.exposed ?? (site.redefined ? 'defined more than once in the model' : 'reaches its op through other ops')
  if (site.dims.length < 2) return 'rank < 2'
  if (site.uses.some((u) => skipNames.has(u.node.name ?? ''))) return 'skip_quant_node'
  // what the graph hands out or takes in must keep its float values
  if (site.exposed) return site.exposed
  if (site.redefined) return 'defined more than once in the model'
  if (site.otherUses.length > 0) return 'also read as a non-weight input'
  if (new Set(site.uses.map((u) => u.channelAxis)).size !== 1) return 'uses disagree on the channel axis'
  const elements = site.dims.reduce((a, b) => a * b, 1)
  if (elements <= opts.minQuantWeightSize) return 'min_quant_weight_size'
  for (const use of site.uses) {
    // the format applies the channel threshold to convolution output channels only
    if (use.node.op_type === 'Conv' || use.node.op_type === 'ConvTranspose') {
      const group = Number(use.node.attribute?.find((a) => a.name === 'group')?.i ?? 1) || 1
      const outChannels = use.node.op_type === 'Conv' ? site.dims[0]! : site.dims[1]! * group
      if (outChannels <= opts.minQuantWeightChannel) return 'min_quant_weight_channel'
    }
  }
  return null
}

/** A weight chosen for quantization, with its float values, before the graph is rewritten. */
export interface PlannedWeight {
  /** Position among the model's weight sites (stable for the same model bytes). */
  index: number
  site: WeightSite
  /**
   * The float values, read on demand rather than held: a view into the model's bytes where the
   * data is aligned, else a fresh copy. Holding every weight's copy at once would cost a whole
   * extra model in memory. With `scratch`, a misaligned tensor is realigned into that buffer
   * (at least `elements` long), which the caller may reuse once done with the values.
   */
  readValues(scratch?: () => Float32Array): Float32Array
  elements: number
  axis: number
}

export interface WeightPlan {
  planned: PlannedWeight[]
  skipped: SkippedWeight[]
  warnings: string[]
}

/** Which weights WEIGHT_QUANT takes and which it leaves float (and why), without changing the model. */
export function planWeights(model: ModelProto, ext: ExternalDataSource | undefined, opts: WeightQuantOptions): WeightPlan {
  if (!Number.isInteger(opts.bits) || opts.bits < 1 || opts.bits > 16) throw new RangeError(`bit width ${opts.bits} is outside 1-16`)
  const warnings: string[] = []
  const skipNames = new Set(opts.skipQuantNode)
  const sites = findWeightSites(model)
  // Cast takes an integer `to` from opset 6 and Sub/Mul broadcast like numpy from opset 7.
  const tooOld = opsetVersion(model) < 7
  if (tooOld && sites.length) warnings.push(`opset ${opsetVersion(model)} is older than 7: weights left in float`)
  const planned: PlannedWeight[] = []
  const skipped: SkippedWeight[] = []
  const nonFinite: string[] = []
  for (const [index, site] of sites.entries()) {
    const reason = tooOld ? 'opset < 7' : skipReason(site, opts, skipNames)
    if (reason) skipped.push({ nodes: nodesOf(site), tensor: site.name, dims: site.dims, reason })
    else {
      const tensor = site.definition.tensor
      // read once now so that bad tensor data fails here, with the plan, not halfway through
      const elements = checkedFloatLength(tensor, ext)
      const readValues = (scratch?: () => Float32Array): Float32Array => tensorToFloat32(tensor, ext, scratch)
      // integer codes cannot hold NaN or an infinity: the weight stays float, and the user is told
      const bad = firstNonFiniteIn(readValues(scratchFor(elements)))
      if (bad >= 0) {
        skipped.push({ nodes: nodesOf(site), tensor: site.name, dims: site.dims, reason: 'NaN or ±Infinity in its values' })
        nonFinite.push(`'${site.name}' (element ${bad})`)
      } else planned.push({ index, site, readValues, elements, axis: site.uses[0]!.channelAxis })
    }
  }
  // one name per entry: each definition of a name is its own weight site
  const twice = [...new Set(skipped.filter((s) => s.reason === 'defined more than once in the model').map((s) => s.tensor))].map((name) => `'${name}'`)
  if (twice.length) warnings.push(`${twice.length} weight name(s) are defined more than once (ONNX wants each name defined once, across subgraphs too), and those weights stay float: ${twice.slice(0, 5).join(', ')}${twice.length > 5 ? ', …' : ''}`)
  skipped.push(...unreachedWeights(model))
  if (nonFinite.length) warnings.push(`${nonFinite.length} weight(s) hold NaN or ±Infinity and stay float: ${nonFinite.slice(0, 5).join(', ')}${nonFinite.length > 5 ? ', …' : ''}`)
  const graph = model.graph
  if (graph && listsEveryInitializer(model, graph)) {
    const listed = planned.filter((w) => w.site.definition.kind === 'initializer' && w.site.definition.graph === graph).length
    if (listed) warnings.push(everyInitializerListedWarning(graph.initializer!.length, listed))
  }
  return { planned, skipped, warnings }
}

export interface EncodedWeight {
  q: ChannelQuantized
  params: DecodeParams
  relativeError: number
}

/** Quantize one weight: per-channel codes, corrected decode parameters, and the resulting error. */
let scratch = new Float32Array(0)
const scratchFor = (n: number) => () => (scratch.length >= n ? scratch : (scratch = new Float32Array(n)))

export function encodeWeight(w: PlannedWeight, bits: number): EncodedWeight {
  // values are only read while quantizing, so one shared buffer serves every misaligned weight
  const { q, sums } = quantizePerChannel(w.readValues(scratchFor(w.elements)), w.site.dims, w.axis, bits, false)
  const params = correctedDecodeParams(q, sums)
  return { q, params, relativeError: params.relativeError }
}

/** The float values onnxruntime reconstructs at load from an encoded weight. */
export function decodedValues(w: PlannedWeight, enc: EncodedWeight): Float32Array {
  return decodeWeights(enc.q.codes, enc.params, w.site.dims, w.axis)
}

/**
 * Rewrite the planned weights into integer codes plus a decode subgraph that onnxruntime folds
 * back into a float initializer at load. `bitsFor` gives each weight its width (default: all
 * `bits`). Mutates the model the plan was made from.
 */
export function applyWeightPlan(
  model: ModelProto, plan: WeightPlan, bits: number, bitsFor: (w: PlannedWeight) => number = () => bits,
  encoded = new Map<PlannedWeight, EncodedWeight>(), means = new Map<PlannedWeight, Float64Array>(),
): WeightQuantResult {
  const names = new NameAllocator(allNames(model))
  const layers: QuantizedLayer[] = []
  const opset = opsetVersion(model)
  let biasCorrected = 0
  const bias = means.size ? biasContext(model, names) : null
  for (const w of plan.planned) {
    const b = bitsFor(w)
    const enc = encoded.get(w)?.q.bits === b ? encoded.get(w)! : encodeWeight(w, b)
    const m = means.get(w)
    if (m && bias) {
      const shift = outputShift(w.site, w.readValues(), decodedValues(w, enc), m)
      const slot = shift && biasSlot(bias, w.site)
      if (slot) {
        setBias(slot, shift)
        biasCorrected++
      }
    }
    layers.push({
      nodes: nodesOf(w.site), tensor: w.site.name, dims: w.site.dims, elements: w.elements, bits: b, axis: w.axis,
      scale: enc.params.scale, zeroPoint: enc.params.zeroPoint, correctionVar: enc.params.correctionVar, correctionMean: enc.params.correctionMean,
      relativeError: enc.relativeError,
      clip: 0, // the range is each channel's own min..max, so nothing is clipped
    })
    replaceWithDequantNodes(w.site, enc.q, enc.params, names, opset)
  }
  return { layers, skipped: plan.skipped, warnings: plan.warnings, biasCorrected }
}

/** WEIGHT_QUANT at one fixed bit width for every eligible weight. Mutates `model`. */
export function quantizeWeights(model: ModelProto, ext: ExternalDataSource | undefined, opts: WeightQuantOptions): WeightQuantResult {
  return applyWeightPlan(model, planWeights(model, ext, opts), opts.bits)
}

import { attr } from '../../onnx/graph-walk.js'
import { DataType, int64ToNumber, type NodeProto, type TensorProto } from '../../onnx/onnx-types.js'
import { elementCount, tensorDims, tensorToFloat32 } from '../../onnx/tensor-data.js'
import { elementTypes } from './element-types.js'
import { isFloatTensor, type GraphIndex } from './graph-index.js'
import { ACTIVATION_OPS, CLAMP_TO_ZERO_OPS, PASS_THROUGH_OPS, WEIGHTED_OPS, type OpPolicy } from './op-policy.js'
import { firstNonFiniteIn } from '../../runtime/non-finite.js'

/** A node that runs on int8 data after the rewrite. */
export interface QuantizedNode {
  node: NodeProto
  kind: 'weighted' | 'activations'
  /** Activation inputs (by name) that get a Q/DQ pair. */
  activationInputs: string[]
  /** For `weighted`: the constant weight and bias input names ('' when there is no bias). */
  weight?: string
  bias?: string
  /** The weight's output-channel axis (Conv 0, Gemm 0 or 1 by transB, MatMul 1). */
  channelAxis?: number
}

/** One activation tensor that gets a QuantizeLinear/DequantizeLinear pair. */
export interface PlannedTensor {
  name: string
  /** The tensor whose calibrated range sets its parameters (itself, or a Relu after it). */
  rangeOf: string
  /** A pass-through op's output reuses its input's parameters, so onnxruntime drops the pair. */
  sharesWith: string | null
}

export interface FloatNode {
  node: string
  op: string
  why: string
  /** For a weighted op the cfg kept float: its weight and the cfg rule that kept it. */
  weight?: { name: string; dims: number[] }
  code?: 'skip_quant_node'
}

export interface QdqPlan {
  quantized: QuantizedNode[]
  /**
   * Weighted ops that run float only because a tensor next to them is kept float (not skipped
   * themselves): their activations stay float, their weights are stored int8 and decoded to float
   * by constants onnxruntime folds at load (qdq-rewrite.ts), so keeping a tensor float costs
   * neither its neighbours' weights in file size nor a per-inference decode. Also in `leftFloat`.
   */
  weightOnly: QuantizedNode[]
  tensors: Map<string, PlannedTensor>
  /** Relu/Clip nodes that onnxruntime removes: their range became the op output's zero point. */
  absorbed: string[]
  /** Nodes of quantizable op types left float, with the reason. */
  leftFloat: FloatNode[]
  /** Names that need calibrated ranges. */
  rangeTensors: string[]
}

/**
 * No size thresholds: the format applies min_quant_weight_size and min_quant_weight_channel to
 * weight quantization only ("only valid for weight quantization"; MindSpore's full quantizer
 * builds its QuantStrategy with 0 and 0), so FULL_QUANT quantizes every weighted op it can.
 */
export interface PlanOptions {
  policy: OpPolicy
  skipQuantNode: ReadonlySet<string>
}

const QUANTIZABLE = new Set([...WEIGHTED_OPS, ...ACTIVATION_OPS])

/** Decide which nodes run quantized and which activations get Q/DQ pairs (main graph only). */
export function planQdq(index: GraphIndex, options: PlanOptions): QdqPlan {
  const types = elementTypes(index)
  const isFloatActivation = (name: string): boolean => !!name && !index.constants.has(name) && types.get(name) === DataType.FLOAT
  const quantized: QuantizedNode[] = []
  const leftFloat: FloatNode[] = []
  for (const node of index.order) {
    const op = node.op_type ?? ''
    if (node.domain) continue
    if (!QUANTIZABLE.has(op)) {
      const why = options.policy.keepFloat.get(op)
      if (why) leftFloat.push({ node: node.name ?? '', op, why })
      continue
    }
    const keep = (why: string, code?: FloatNode['code']): void => {
      const w = WEIGHTED_OPS.has(op) ? index.constants.get(node.input?.[1] ?? '') : undefined
      leftFloat.push({ node: node.name ?? '', op, why, ...(w && code ? { weight: { name: node.input![1]!, dims: tensorDims(w.tensor) }, code } : {}) })
    }
    if (options.skipQuantNode.has(node.name ?? '')) { keep('skip_quant_node', 'skip_quant_node'); continue }
    const policyWhy = options.policy.keepFloat.get(op)
    const inputs = (node.input ?? []).filter(Boolean)
    if (WEIGHTED_OPS.has(op) && index.constants.has(node.input?.[1] ?? '')) {
      const w = weightedNode(node, index, isFloatActivation)
      if (typeof w === 'string') keep(w)
      else if (policyWhy) keep(policyWhy)
      else quantized.push(w)
      continue
    }
    if (policyWhy) { keep(policyWhy); continue }
    if (!inputs.every(isFloatActivation)) { keep('an input is a constant or not float32'); continue }
    if ((op === 'Add' || op === 'Mul' || op === 'MatMul') && inputs.length !== 2) { keep('not a two-input op'); continue }
    quantized.push({ node, kind: 'activations', activationInputs: [...new Set(inputs)] })
  }

  // Every tensor a skip_quant_node node reads or writes keeps its float values: the quantized nodes on either side of it would otherwise still round it, and a
  // skipped node would change nothing but its kernel (measured: 40 skipped nodes moved PP-OCRv4
  // rec's cosine from 0.958 to 0.964 before this rule).
  const floatTensors = new Map<string, string>()
  for (const node of index.order) {
    const name = node.name ?? ''
    if (node.domain || !options.skipQuantNode.has(name)) continue
    for (const t of [...(node.input ?? []), ...(node.output ?? [])]) if (isFloatActivation(t) && !floatTensors.has(t)) floatTensors.set(t, `next to skip_quant_node ${name}`)
  }
  const weightOnly: QuantizedNode[] = []
  if (floatTensors.size) {
    for (let k = quantized.length - 1; k >= 0; k--) {
      const q = quantized[k]!
      const out = q.node.output?.[0] ?? ''
      const clamp = clampAfter(out, index, options)
      const touched = [...q.activationInputs, out, ...(clamp ? [clamp.output![0]!] : [])].find((t) => floatTensors.has(t))
      if (touched === undefined) continue
      quantized.splice(k, 1)
      if (q.kind === 'weighted') weightOnly.unshift(q)
      const weights = q.kind === 'weighted' ? '; its weight stays int8 (decoded to float when the model loads)' : ''
      leftFloat.push({ node: q.node.name ?? '', op: q.node.op_type ?? '', why: `reads or writes '${touched}', kept float (${floatTensors.get(touched)})${weights}` })
    }
  }

  const tensors = new Map<string, PlannedTensor>()
  const absorbed: string[] = []
  const want = (name: string, rangeOf = name): void => {
    if (!tensors.has(name)) tensors.set(name, { name, rangeOf, sharesWith: null })
  }
  for (const q of quantized) for (const i of q.activationInputs) want(i)
  const readByInt8 = new Set(tensors.keys())
  for (const q of quantized) {
    const out = q.node.output?.[0] ?? ''
    const clamp = clampAfter(out, index, options)
    // A Gemm whose output no int8 op reads writes float: onnxruntime's QGemm takes an optional
    // output scale and, without one, writes float itself, so a Q/DQ pair there would only round
    // the value and cost time. It also keeps float patterns after it whole: on openWakeWord's
    // hello_deepa the pair before each LayerNorm (a DequantizeLinear read by both its ReduceMean
    // and Sub) kept onnxruntime from fusing LayerNormalization.
    if (q.node.op_type === 'Gemm' && !readByInt8.has(clamp ? clamp.output![0]! : out)) continue
    if (clamp) {
      want(clamp.output![0]!)
      absorbed.push(clamp.name ?? '')
    } else want(out)
  }
  // pass-through ops carry their input's parameters forward (in graph order, so chains resolve)
  for (const node of index.order) {
    const op = node.op_type ?? ''
    if (node.domain || !PASS_THROUGH_OPS.has(op) || options.skipQuantNode.has(node.name ?? '')) continue
    const src = node.input?.[0] ?? ''
    const out = node.output?.[0] ?? ''
    const from = tensors.get(src)
    if (!from || !out || options.policy.keepFloat.has(op) || index.outputs.has(out) || floatTensors.has(out)) continue
    tensors.set(out, { name: out, rangeOf: from.rangeOf, sharesWith: from.sharesWith ?? src })
  }
  for (const t of tensors.values()) if (t.sharesWith === null && !isFloatActivation(t.name)) tensors.delete(t.name)
  const rangeTensors = [...new Set([...tensors.values()].filter((t) => t.sharesWith === null).map((t) => t.rangeOf))]
  return { quantized, weightOnly, tensors, absorbed, leftFloat, rangeTensors }
}

function weightedNode(node: NodeProto, index: GraphIndex, isFloatActivation: (n: string) => boolean): QuantizedNode | string {
  const op = node.op_type!
  const x = node.input?.[0] ?? ''
  const wName = node.input?.[1] ?? ''
  const bName = node.input?.[2] ?? ''
  const w = index.constants.get(wName)!
  if (!isFloatActivation(x)) return 'its input is a constant or not float32'
  if (!isFloatTensor(w.tensor)) return 'its weight is not float32'
  const exposed = index.exposed.get(wName)
  if (exposed) return `its weight is ${exposed}`
  if (index.redefined.has(wName)) return 'its weight is defined more than once in the model'
  const dims = tensorDims(w.tensor)
  let channelAxis: number
  if (op === 'Conv') {
    if (dims.length < 3) return 'weight rank below 3'
    channelAxis = 0
  } else if (op === 'Gemm') {
    if (int64ToNumber(attr(node, 'transA')?.i) || (attr(node, 'alpha')?.f ?? 1) !== 1 || (bName && (attr(node, 'beta')?.f ?? 1) !== 1)) return 'Gemm with transA, alpha or beta'
    if (dims.length !== 2) return 'weight rank is not 2'
    channelAxis = int64ToNumber(attr(node, 'transB')?.i) ? 0 : 1
  } else {
    if (dims.length !== 2) return 'weight rank is not 2'
    channelAxis = 1
  }
  const channels = dims[channelAxis]!
  // int8 codes cannot hold NaN or an infinity: such a weight stays float, as a bad bias does
  if (holdsNonFinite(w.tensor)) return 'its weight holds NaN or ±Infinity'
  if (bName) {
    const b = index.constants.get(bName)
    if (!b || !isFloatTensor(b.tensor)) return 'its bias is not a float32 constant'
    const biasExposed = index.exposed.get(bName)
    if (biasExposed) return `its bias is ${biasExposed}`
    if (index.redefined.has(bName)) return 'its bias is defined more than once in the model'
    if (elementCount(tensorDims(b.tensor)) !== channels) return 'its bias is not one value per output channel'
    if (holdsNonFinite(b.tensor)) return 'its bias holds a non-finite value'
  }
  return { node, kind: 'weighted', activationInputs: [x], weight: wName, bias: bName, channelAxis }
}

/** A Relu, or a Clip whose floor is 0, that is the only reader of a quantized op's output. */
function clampAfter(out: string, index: GraphIndex, options: PlanOptions): NodeProto | null {
  const readers = index.consumers.get(out) ?? []
  if (readers.length !== 1 || index.outputs.has(out)) return null
  const r = readers[0]!
  if (r.domain || !CLAMP_TO_ZERO_OPS.has(r.op_type ?? '') || options.skipQuantNode.has(r.name ?? '')) return null
  if (r.op_type === 'Clip') {
    const lo = r.input?.[1] ? index.constants.get(r.input[1]) : undefined
    const floor = lo ? tensorToFloat32(lo.tensor)[0] : attr(r, 'min')?.f
    if (floor !== 0) return null
  }
  return r
}

// planQdq runs once per node while the accuracy guard ranks nodes: each tensor is scanned once
const nonFinite = new WeakMap<TensorProto, boolean>()
function holdsNonFinite(t: TensorProto): boolean {
  let known = nonFinite.get(t)
  if (known === undefined) nonFinite.set(t, (known = firstNonFiniteIn(tensorToFloat32(t)) >= 0))
  return known
}

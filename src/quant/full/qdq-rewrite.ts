import { AttributeType, DataType, type NodeProto } from '../../onnx/onnx-types.js'
import { makeTensor, tensorDims, tensorToFloat32 } from '../../onnx/tensor-data.js'
import { type NameAllocator } from '../../onnx/graph-walk.js'
import { decodeNodes } from '../dequant-nodes.js'
import { weightForm, type DeviceProfile } from './device-profile.js'
import type { GraphIndex } from './graph-index.js'
import type { QdqPlan, QuantizedNode } from './qdq-plan.js'
import type { QuantParams } from './quant-params.js'
import { encodeBias, encodeIntWeight, type IntWeight } from './weight-encoding.js'

/** What the rewrite did to one weighted op, for the report and bias correction. */
export interface RewrittenWeight {
  q: QuantizedNode
  dims: number[]
  original: Float32Array
  weight: IntWeight
  inputScale: number
  /** The float bias before and after correction (null: the op has no bias and none was added). */
  bias: Float32Array | null
  biasCodes: Int32Array | null
  /** For a MatMul: whether the correction went into the constant of the Add after it. */
  correctedAdd: boolean
}

/**
 * Per-output-channel shift of a weighted op caused by rounding its weight, given the weight's
 * codes (bias correction); null when the op is not corrected.
 */
export type BiasShift = (q: QuantizedNode, original: Float32Array, decoded: Float32Array) => Float64Array | null

interface Pending {
  before: NodeProto[]
  after: Map<NodeProto, NodeProto[]>
  dropConstants: Set<string>
}

/**
 * Rewrite the main graph in QDQ form as the plan says. Naming: a quantized activation `t` keeps
 * its name on the DequantizeLinear output (what its readers see); its producer now writes
 * `t_f32` into the QuantizeLinear. Graph inputs and outputs keep their names: a quantized graph
 * input is read through a new `<input>_dq`. Weights and biases become integer initializers with
 * a DequantizeLinear whose output keeps the constant's name when the op was its only reader.
 */
export function rewriteQdq(index: GraphIndex, plan: QdqPlan, params: Map<string, QuantParams>, profile: DeviceProfile, names: NameAllocator, shift: BiasShift | null): RewrittenWeight[] {
  const graph = index.graph
  const pending: Pending = { before: [], after: new Map(), dropConstants: new Set() }
  const inits = (graph.initializer ??= [])
  const paramNames = new Map<string, { scale: string; zp: string }>()
  const actType = profile.activationType

  const paramsFor = (name: string): { scale: string; zp: string } => {
    const planned = plan.tensors.get(name)!
    const source = planned.sharesWith ?? name
    let p = paramNames.get(source)
    if (!p) {
      const qp = params.get(plan.tensors.get(source)?.rangeOf ?? source)
      if (!qp) throw new Error(`no calibrated range for tensor '${source}'`)
      p = { scale: names.take(`${source}_scale`), zp: names.take(`${source}_zero_point`) }
      inits.push(makeTensor(p.scale, DataType.FLOAT, [], Float32Array.of(qp.scale)))
      inits.push(makeTensor(p.zp, actType, [], actType === DataType.INT8 ? Int8Array.of(qp.zeroPoint) : Uint8Array.of(qp.zeroPoint)))
      paramNames.set(source, p)
    }
    return p
  }

  // the loop below renames a quantized op's output to `<out>_f32`: bias correction looks for the
  // Add after a MatMul among the readers of the name the index knows
  const outputOf = new Map(plan.quantized.map((q) => [q.node, q.node.output?.[0] ?? '']))
  for (const t of plan.tensors.values()) {
    const p = paramsFor(t.name)
    const quantized = names.take(`${t.name}_quantized`)
    if (index.inputs.has(t.name)) {
      const dq = names.take(`${t.name}_dq`)
      for (const reader of index.consumers.get(t.name) ?? []) reader.input = (reader.input ?? []).map((i) => (i === t.name ? dq : i))
      pending.before.push(qNode(names, t.name, t.name, p, quantized), dqNode(names, t.name, quantized, p.scale, p.zp, dq, null))
      continue
    }
    const producer = index.producer.get(t.name)
    if (!producer) continue
    const raw = names.take(`${t.name}_f32`)
    producer.output = (producer.output ?? []).map((o) => (o === t.name ? raw : o))
    const list = pending.after.get(producer) ?? []
    list.push(qNode(names, t.name, raw, p, quantized), dqNode(names, t.name, quantized, p.scale, p.zp, t.name, null))
    pending.after.set(producer, list)
  }

  const rewritten: RewrittenWeight[] = []
  for (const q of plan.quantized) {
    if (q.kind !== 'weighted') continue
    const x = q.activationInputs[0]!
    const inputScale = params.get(plan.tensors.get(plan.tensors.get(x)?.sharesWith ?? x)?.rangeOf ?? x)?.scale
    if (inputScale === undefined) throw new Error(`no calibrated range for the input '${x}' of '${q.node.name}'`)
    rewritten.push(rewriteWeighted(index, q, outputOf.get(q.node)!, inputScale, profile, names, pending, shift))
  }
  for (const q of plan.weightOnly) rewritten.push(rewriteWeightOnly(index, q, profile, names, pending))

  const keep = (graph.node ?? []).filter((n) => !(n.op_type === 'Constant' && pending.dropConstants.has(n.output?.[0] ?? '')))
  graph.initializer = inits.filter((t) => !pending.dropConstants.has(t.name ?? ''))
  graph.input = (graph.input ?? []).filter((v) => !pending.dropConstants.has(v.name ?? ''))
  const nodes: NodeProto[] = [...pending.before]
  for (const n of keep) {
    nodes.push(n)
    const extra = pending.after.get(n)
    if (extra) nodes.push(...extra)
  }
  graph.node = nodes
  return rewritten
}

/** A weighted op's float weight as the plan found it: its name, dims, values and channel axis. */
function floatWeight(index: GraphIndex, q: QuantizedNode): { wName: string; dims: number[]; original: Float32Array; axis: number } {
  const wName = q.weight!
  const wTensor = index.constants.get(wName)!.tensor
  return { wName, dims: tensorDims(wTensor), original: tensorToFloat32(wTensor), axis: q.channelAxis! }
}

function rewriteWeighted(index: GraphIndex, q: QuantizedNode, output: string, inputScale: number, profile: DeviceProfile, names: NameAllocator, pending: Pending, shift: BiasShift | null): RewrittenWeight {
  const node = q.node
  const graph = index.graph
  const { wName, dims, original, axis } = floatWeight(index, q)
  const channels = dims[axis]!
  let bias: Float32Array | null = q.bias ? tensorToFloat32(index.constants.get(q.bias)!.tensor).slice() : null
  const form = weightForm(profile, node.op_type ?? '')
  let weight = encodeIntWeight(original, dims, axis, form, bias, inputScale)
  const delta = shift?.(q, original, weight.decoded) ?? null
  let correctedAdd = false
  if (delta && node.op_type === 'MatMul') {
    // MatMul has no bias input: its bias is the constant of the Add that reads it, if there is one
    correctedAdd = correctFollowingAdd(index, output, delta, names)
  } else if (delta) {
    const corrected = bias ?? new Float32Array(channels)
    for (let c = 0; c < channels; c++) corrected[c] = corrected[c]! - delta[c]!
    bias = corrected
    // the corrected bias may need a larger weight-scale floor
    weight = encodeIntWeight(original, dims, axis, form, bias, inputScale)
  }
  const perChannelAxis = weight.axis
  const wq = names.take(`${wName}_quantized`)
  const ws = names.take(`${wName}_scale`)
  // DequantizeLinear's zero point defaults to 0: symmetric Conv and MatMul weights carry none, a
  // byte per channel saved, and onnxruntime fuses them all the same. A Gemm's weight always
  // carries one: onnxruntime builds QGemm by appending the weight DequantizeLinear's inputs in
  // order, so without a zero point the bias lands in QGemm's B_zero_point slot and the fusion is
  // dropped (measured, onnxruntime-node 1.30: a 3-Gemm MLP's optimized graph kept 3 float Gemms
  // and 10 DequantizeLinear without it, 3 QGemm with it)
  const wz = node.op_type === 'Gemm' || weight.zeroPoint.some((z) => z !== 0) ? names.take(`${wName}_zero_point`) : ''
  const scaleDims = perChannelAxis === null ? [] : [channels]
  graph.initializer!.push(makeTensor(wq, weight.type, dims, weight.codes), makeTensor(ws, DataType.FLOAT, scaleDims, weight.scale))
  if (wz) graph.initializer!.push(makeTensor(wz, weight.type, scaleDims, weight.zeroPoint))
  const wOut = soleReader(index, wName, node) ? wName : names.take(`${wName}_dequantized`)
  if (wOut === wName) pending.dropConstants.add(wName)
  pending.before.push(dqNode(names, wName, wq, ws, wz, wOut, perChannelAxis))
  let biasCodes: Int32Array | null = null
  if (bias) {
    const b = encodeBias(bias, weight, inputScale)
    biasCodes = b.codes
    const base = q.bias || `${node.name || wName}_bias`
    const bq = names.take(`${base}_quantized`)
    const bs = names.take(`${base}_scale`)
    const bDims = [channels]
    // an int32 bias's zero point is 0 by definition: left out (4 bytes a channel)
    graph.initializer!.push(makeTensor(bq, DataType.INT32, bDims, b.codes), makeTensor(bs, DataType.FLOAT, perChannelAxis === null ? [] : bDims, b.scale))
    const bOut = q.bias && soleReader(index, q.bias, node) ? q.bias : names.take(`${base}_dequantized`)
    if (bOut === q.bias) pending.dropConstants.add(q.bias)
    pending.before.push(dqNode(names, base, bq, bs, '', bOut, perChannelAxis === null ? null : 0))
    const inputs = [...(node.input ?? [])]
    inputs[2] = bOut
    node.input = inputs
  }
  const inputs = [...(node.input ?? [])]
  inputs[1] = wOut
  node.input = inputs
  return { q, dims, original, weight, inputScale, bias, biasCodes, correctedAdd }
}

/**
 * A weighted op that runs float next to a float tensor: only its weight is stored as integer
 * codes; its bias stays float (no input scale to encode it with). The codes are decoded by
 * Cast and Mul (and Sub for a zero point) rather than a DequantizeLinear: onnxruntime folds
 * those constants into a float weight when the session loads, so the float kernel keeps its
 * prepacked, blocked-layout weights, whereas it leaves a weight's DequantizeLinear to run on
 * every inference (measured on PP-OCRv4 det with 13 such convs, side by side at load average ~6:
 * 0.64x of fp32 latency at 1 thread with DequantizeLinear, 0.53x with Cast and Mul, 0.54x with
 * float weights).
 */
function rewriteWeightOnly(index: GraphIndex, q: QuantizedNode, profile: DeviceProfile, names: NameAllocator, pending: Pending): RewrittenWeight {
  const node = q.node
  const { wName, dims, original, axis } = floatWeight(index, q)
  const weight = encodeIntWeight(original, dims, axis, weightForm(profile, node.op_type ?? ''), null, 1)
  const graph = index.graph
  const wq = names.take(`${wName}_quantized`)
  const ws = names.take(`${wName}_scale`)
  // the scale broadcasts along the channel axis: size 1 on every other axis
  const scaleDims = weight.axis === null ? [] : dims.map((d, i) => (i === axis ? d : 1))
  graph.initializer!.push(makeTensor(wq, weight.type, dims, weight.codes), makeTensor(ws, DataType.FLOAT, scaleDims, weight.scale))
  const wOut = soleReader(index, wName, node) ? wName : names.take(`${wName}_dequantized`)
  if (wOut === wName) pending.dropConstants.add(wName)
  let wz: string | null = null
  if (weight.zeroPoint.some((z) => z !== 0)) {
    wz = names.take(`${wName}_zero_point`)
    graph.initializer!.push(makeTensor(wz, DataType.FLOAT, scaleDims, Float32Array.from(weight.zeroPoint)))
  }
  pending.before.push(...decodeNodes(names, wName, wq, ws, wz, wOut))
  const inputs = [...(node.input ?? [])]
  inputs[1] = wOut
  node.input = inputs
  const bias = q.bias ? tensorToFloat32(index.constants.get(q.bias)!.tensor) : null
  return { q, dims, original, weight, inputScale: Number.NaN, bias, biasCodes: null, correctedAdd: false }
}

/** Subtract a MatMul's shift from the float constant of the single Add that reads its output `out`; false when there is none. */
function correctFollowingAdd(index: GraphIndex, out: string, delta: Float64Array, names: NameAllocator): boolean {
  const readers = index.consumers.get(out) ?? []
  if (readers.length !== 1 || readers[0]!.op_type !== 'Add' || readers[0]!.domain) return false
  const add = readers[0]!
  const at = add.input?.[0] === out ? 1 : 0
  const c = index.constants.get(add.input?.[at] ?? '')
  // a constant a caller feeds or reads keeps its name: the Add must go on reading it
  if (!c || c.tensor.data_type !== DataType.FLOAT || index.exposed.has(add.input![at]!)) return false
  const dims = tensorDims(c.tensor)
  const values = tensorToFloat32(c.tensor)
  if (values.length !== delta.length || dims[dims.length - 1] !== delta.length) return false
  const corrected = new Float32Array(values.length)
  for (let i = 0; i < values.length; i++) corrected[i] = values[i]! - delta[i]!
  // a new initializer: the original constant may be read elsewhere
  const name = names.take(`${add.input![at]}_corrected`)
  index.graph.initializer!.push(makeTensor(name, DataType.FLOAT, dims, corrected))
  const inputs = [...add.input!]
  inputs[at] = name
  add.input = inputs
  return true
}

function soleReader(index: GraphIndex, name: string, node: NodeProto): boolean {
  const readers = index.consumers.get(name) ?? []
  return readers.length === 1 && readers[0] === node && !index.outputs.has(name)
}

function qNode(names: NameAllocator, base: string, input: string, p: { scale: string; zp: string }, output: string): NodeProto {
  return { name: names.take(`${base}_QuantizeLinear`), op_type: 'QuantizeLinear', input: [input, p.scale, p.zp], output: [output] }
}

function dqNode(names: NameAllocator, base: string, input: string, scale: string, zp: string, output: string, axis: number | null): NodeProto {
  const node: NodeProto = { name: names.take(`${base}_DequantizeLinear`), op_type: 'DequantizeLinear', input: zp ? [input, scale, zp] : [input, scale], output: [output] }
  if (axis !== null) node.attribute = [{ name: 'axis', type: AttributeType.INT, i: axis }]
  return node
}



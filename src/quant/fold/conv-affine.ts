// Folding per-output-channel affine ops into the Conv or ConvTranspose that feeds them:
// BatchNormalization (inference form) and Mul/Div/Add/Sub by a constant that is a scalar or
// varies along the channel axis only. The chain after a conv is y = s * conv(x) + t per channel;
// s and t are accumulated in float64 and written once into new weight and bias tensors, so the
// only change to the outputs is float32 rounding.
import { attr } from '../../onnx/graph-walk.js'
import { int64ToNumber, type NodeProto } from '../../onnx/onnx-types.js'
import { channelVector } from './channel-vector.js'
import type { ConstantValue, GraphIndex } from './graph-index.js'

export interface ConvFoldCounts {
  batchNorms: number
  affines: number
  /** nodes taken out of the graph (the folded ones; orphaned constants are pruned later) */
  removed: NodeProto[]
  /** names the rewritten convs no longer read or produce (old weights, old outputs) */
  released: string[]
  /** each new weight or bias and the constant it replaces (see FoldReport.renamed) */
  renamed: { tensor: string; original: string }[]
}

/** Folds every foldable chain after a Conv/ConvTranspose of the graph. */
export function foldConvAffines(index: GraphIndex): ConvFoldCounts {
  const counts: ConvFoldCounts = { batchNorms: 0, affines: 0, removed: [], released: [], renamed: [] }
  for (const conv of [...(index.graph.node ?? [])]) {
    if ((conv.op_type !== 'Conv' && conv.op_type !== 'ConvTranspose') || conv.domain) continue
    foldAfter(conv, index, counts)
  }
  return counts
}

interface ChannelAffine {
  s: Float64Array
  t: Float64Array
}

function foldAfter(conv: NodeProto, index: GraphIndex, counts: ConvFoldCounts): void {
  const inputs = conv.input ?? []
  const dims = inputs[1] ? index.floatDims(inputs[1]) : null
  if (!dims || dims.length < 3) return
  if (inputs[2] && !index.floatDims(inputs[2])) return
  const channels = outputChannels(conv, dims)
  const rank = dims.length // a conv's output has the rank of its weight
  const affine: ChannelAffine = { s: new Float64Array(channels).fill(1), t: new Float64Array(channels) }
  const chain: NodeProto[] = []
  let bns = 0
  let current = conv.output?.[0] ?? ''
  for (;;) {
    const readers = index.consumers(current)
    if (readers.length !== 1 || index.graphOutputs.has(current)) break
    const next = readers[0]!
    const kind = applyNode(next, current, index, rank, affine)
    if (!kind) break
    if (kind === 'bn') bns++
    chain.push(next)
    current = next.output![0]!
  }
  if (chain.length === 0) return
  // values are read only now: most convs have nothing to fold
  const weight = index.floatConstant(inputs[1]!)
  const bias = inputs[2] ? index.floatConstant(inputs[2]) : null
  if (!weight || (inputs[2] && bias?.values.length !== channels)) return
  const newWeight = scaledWeight(conv, weight, channels, affine.s)
  const newBias = new Float32Array(channels)
  for (let c = 0; c < channels; c++) newBias[c] = (bias ? bias.values[c]! : 0) * affine.s[c]! + affine.t[c]!
  const base = conv.name || conv.output![0]!
  counts.released.push(...inputs.slice(1).filter(Boolean), conv.output![0]!)
  conv.input = [inputs[0]!, index.addConstant(`${base}_folded_W`, weight.dims, newWeight), index.addConstant(`${base}_folded_B`, [channels], newBias)]
  counts.renamed.push({ tensor: conv.input[1]!, original: inputs[1]! }, ...(inputs[2] ? [{ tensor: conv.input[2]!, original: inputs[2] }] : []))
  // the conv now produces the chain's last tensor, so every reader and graph output keeps its name
  conv.output = [current]
  counts.batchNorms += bns
  counts.affines += chain.length - bns
  counts.removed.push(...chain)
}

/** Output channels of a Conv ([M, C/g, k...]) or ConvTranspose ([C, M/g, k...]) weight. */
function outputChannels(conv: NodeProto, dims: number[]): number {
  if (conv.op_type === 'Conv') return dims[0]!
  const group = int64ToNumber(attr(conv, 'group')?.i) || 1
  return dims[1]! * group
}

function scaledWeight(conv: NodeProto, weight: ConstantValue, channels: number, s: Float64Array): Float32Array {
  const out = new Float32Array(weight.values.length)
  const w = weight.values
  if (conv.op_type === 'Conv') {
    const per = w.length / channels
    for (let c = 0; c < channels; c++) {
      const k = s[c]!
      for (let i = c * per, end = i + per; i < end; i++) out[i] = w[i]! * k
    }
    return out
  }
  // ConvTranspose: weight [C_in, M/g, k...]; input channel ci belongs to group ci / (C_in/g)
  const group = int64ToNumber(attr(conv, 'group')?.i) || 1
  const cin = weight.dims[0]!
  const mg = weight.dims[1]!
  const kernel = w.length / (cin * mg)
  for (let ci = 0; ci < cin; ci++) {
    const g = Math.floor(ci / (cin / group))
    for (let j = 0; j < mg; j++) {
      const k = s[g * mg + j]!
      for (let i = (ci * mg + j) * kernel, end = i + kernel; i < end; i++) out[i] = w[i]! * k
    }
  }
  return out
}

/**
 * Applies `node` (reading `input`) to the accumulated affine when it is a per-channel affine op
 * with constant parameters; returns what it was, or null (and leaves the affine untouched).
 */
function applyNode(node: NodeProto, input: string, index: GraphIndex, rank: number, a: ChannelAffine): 'bn' | 'affine' | null {
  if (node.domain) return null
  const ins = node.input ?? []
  const outs = node.output ?? []
  if (!outs[0]) return null
  const channels = a.s.length
  if (node.op_type === 'BatchNormalization') {
    if (ins[0] !== input || ins.length < 5) return null
    if (int64ToNumber(attr(node, 'training_mode')?.i) !== 0) return null
    const spatial = attr(node, 'spatial')
    if (spatial && int64ToNumber(spatial.i) !== 1) return null
    // extra outputs (running statistics of old training exports) must not be read by anyone
    if (outs.slice(1).some((o) => o && (index.consumers(o).length > 0 || index.graphOutputs.has(o)))) return null
    const [scale, beta, mean, variance] = ins.slice(1, 5).map((n) => index.floatConstant(n))
    if (![scale, beta, mean, variance].every((p) => p && p.values.length === channels && p.dims.length === 1)) return null
    const eps = attr(node, 'epsilon')?.f ?? 1e-5
    for (let c = 0; c < channels; c++) {
      const k = scale!.values[c]! / Math.sqrt(variance!.values[c]! + Math.fround(eps))
      if (!Number.isFinite(k)) return null
    }
    for (let c = 0; c < channels; c++) {
      const k = scale!.values[c]! / Math.sqrt(variance!.values[c]! + Math.fround(eps))
      a.s[c] = a.s[c]! * k
      a.t[c] = (a.t[c]! - mean!.values[c]!) * k + beta!.values[c]!
    }
    return 'bn'
  }
  const op = node.op_type
  if ((op !== 'Mul' && op !== 'Add' && op !== 'Sub' && op !== 'Div') || ins.length !== 2) return null
  const at = ins[0] === input ? 0 : ins[1] === input ? 1 : -1
  if (at < 0 || ins[0] === ins[1]) return null
  if (op === 'Div' && at !== 0) return null
  const c = channelVector(index.floatConstant(ins[1 - at]!), rank, channels)
  if (!c) return null
  if (op === 'Div' && c.some((v) => v === 0)) return null
  for (let k = 0; k < channels; k++) {
    const v = c[k]!
    switch (op) {
      case 'Mul': a.s[k] = a.s[k]! * v; a.t[k] = a.t[k]! * v; break
      case 'Div': a.s[k] = a.s[k]! / v; a.t[k] = a.t[k]! / v; break
      case 'Add': a.t[k] = a.t[k]! + v; break
      case 'Sub':
        if (at === 0) a.t[k] = a.t[k]! - v
        else { a.s[k] = -a.s[k]!; a.t[k] = v - a.t[k]! }
        break
    }
  }
  return 'affine'
}

// Folding a per-channel affine that feeds a Conv into that Conv's weights: conv(s * h + t) =
// conv'(h) with W'[o, c, k] = W[o, c, k] * s[c] and B'[o] = B[o] + sum over c, k of W[o, c, k] *
// t[c]. The shift is exact only when every output position reads real input values, so only
// Convs without padding qualify (PP-LCNet's learnable affine after each activation feeds many
// 1x1 convs); the scale alone would survive padding, but exporters put the Add last.
import { attr } from '../../onnx/graph-walk.js'
import { int64ToNumber, type NodeProto } from '../../onnx/onnx-types.js'
import { channelVector } from './channel-vector.js'
import type { GraphIndex } from './graph-index.js'

export interface InputFoldCounts {
  affines: number
  removed: NodeProto[]
  released: string[]
  /** each new weight or bias and the constant it replaces (see FoldReport.renamed) */
  renamed: { tensor: string; original: string }[]
}

export function foldConvInputAffines(index: GraphIndex): InputFoldCounts {
  const counts: InputFoldCounts = { affines: 0, removed: [], released: [], renamed: [] }
  for (const conv of [...(index.graph.node ?? [])]) {
    if (conv.op_type === 'Conv' && !conv.domain && unpadded(conv)) foldBefore(conv, index, counts)
  }
  return counts
}

function unpadded(conv: NodeProto): boolean {
  const autoPad = attr(conv, 'auto_pad')?.s
  const mode = autoPad ? new TextDecoder().decode(autoPad) : ''
  if (mode !== '' && mode !== 'NOTSET' && mode !== 'VALID') return false
  return (attr(conv, 'pads')?.ints ?? []).every((p) => int64ToNumber(p) === 0)
}

function foldBefore(conv: NodeProto, index: GraphIndex, counts: InputFoldCounts): void {
  const inputs = conv.input ?? []
  const dims = inputs[1] ? index.floatDims(inputs[1]) : null
  if (!dims || dims.length < 3) return
  if (inputs[2] && !index.floatDims(inputs[2])) return
  const group = int64ToNumber(attr(conv, 'group')?.i) || 1
  const outChannels = dims[0]!
  const perGroup = dims[1]!
  const inChannels = perGroup * group
  const rank = dims.length
  // y = s * h + t, built from the conv backwards
  const s = new Float64Array(inChannels).fill(1)
  const t = new Float64Array(inChannels)
  const chain: NodeProto[] = []
  let reader = conv
  let current = inputs[0] ?? ''
  for (;;) {
    const node = index.producer.get(current)
    if (!node || node.domain || node.output?.length !== 1 || !index.onlyReadBy(current, reader)) break
    const op = node.op_type
    const ins = node.input ?? []
    if ((op !== 'Mul' && op !== 'Add' && op !== 'Sub' && op !== 'Div') || ins.length !== 2 || ins[0] === ins[1]) break
    const at = index.floatDims(ins[1]!) ? 0 : index.floatDims(ins[0]!) ? 1 : -1
    if (at < 0 || (op === 'Div' && at !== 0)) break
    const constant = index.floatConstant(ins[1 - at]!)
    const c = channelVector(constant, rank, inChannels)
    if (!c || (op === 'Div' && c.some((v) => v === 0))) break
    if (!keepsShape(constant!.dims, constant!.values.length, ins[at]!, rank, inChannels, index)) break
    for (let k = 0; k < inChannels; k++) {
      const v = c[k]!
      switch (op) {
        case 'Mul': s[k] = s[k]! * v; break
        case 'Div': s[k] = s[k]! / v; break
        case 'Add': t[k] = t[k]! + s[k]! * v; break
        case 'Sub':
          if (at === 0) t[k] = t[k]! - s[k]! * v
          else { t[k] = t[k]! + s[k]! * v; s[k] = -s[k]! }
          break
      }
    }
    chain.push(node)
    reader = node
    current = ins[at]!
  }
  if (chain.length === 0) return
  // values are read only now: most convs have nothing to fold
  const weight = index.floatConstant(inputs[1]!)
  const bias = inputs[2] ? index.floatConstant(inputs[2]) : null
  if (!weight || (inputs[2] && bias?.values.length !== outChannels)) return
  const w = weight.values
  const kernel = w.length / (outChannels * perGroup)
  const newWeight = new Float32Array(w.length)
  const newBias = new Float32Array(outChannels)
  for (let o = 0; o < outChannels; o++) {
    const g = Math.floor(o / (outChannels / group))
    let shift = bias ? bias.values[o]! : 0
    for (let cl = 0; cl < perGroup; cl++) {
      const c = g * perGroup + cl
      for (let i = (o * perGroup + cl) * kernel, end = i + kernel; i < end; i++) {
        newWeight[i] = w[i]! * s[c]!
        shift += w[i]! * t[c]!
      }
    }
    newBias[o] = shift
  }
  const base = conv.name || conv.output![0]!
  counts.released.push(...inputs.filter(Boolean))
  conv.input = [current, index.addConstant(`${base}_folded_W`, weight.dims, newWeight), index.addConstant(`${base}_folded_B`, [outChannels], newBias)]
  counts.renamed.push({ tensor: conv.input[1]!, original: inputs[1]! }, ...(inputs[2] ? [{ tensor: conv.input[2]!, original: inputs[2] }] : []))
  counts.affines += chain.length
  counts.removed.push(...chain)
}

/**
 * Whether dropping the op leaves the conv's input shape as it was: the constant must not be what
 * gives the tensor its rank or its channel count (h [1, 1, H, W] + c [1, C, 1, 1] is [1, C, H, W]).
 */
function keepsShape(constDims: number[], elements: number, h: string, rank: number, channels: number, index: GraphIndex): boolean {
  const rankFromH = constDims.length < rank || index.rankOf(h) === rank
  if (!rankFromH) return false
  return elements === 1 || channels === 1 || index.channelsOf(h) === channels
}

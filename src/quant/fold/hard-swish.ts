// Recognising the hard-swish and hard-sigmoid chains that exporters spell out op by op (Paddle:
// Add(x, 3) -> Clip(0, 6) -> Mul(x, .) -> Div(6)) and replacing them with the ONNX ops. One
// kernel instead of four passes over the tensor, and in QDQ graphs one or two ops instead of four
// quantized hops. HardSwish exists from opset 14; below that the chain becomes
// HardSigmoid(alpha=1/6, beta=0.5) + Mul, which opset 6 already has.
import { attr } from '../../onnx/graph-walk.js'
import { AttributeType, type NodeProto } from '../../onnx/onnx-types.js'
import { scalarOf, type GraphIndex } from './graph-index.js'

export interface HardSwishCounts {
  hardSwish: number
  hardSigmoid: number
  removed: NodeProto[]
  /** new nodes, each to be placed where the node it replaces stood */
  replacements: Map<NodeProto, NodeProto[]>
}

const SIXTH = 1 / 6

function near(v: number | null, want: number): boolean {
  return v !== null && Math.abs(v - want) <= 1e-6 * Math.abs(want)
}

/** The other input of a two-input node whose one input is `name`, or null. */
function otherInput(node: NodeProto, name: string): string | null {
  const ins = node.input ?? []
  if (ins.length !== 2 || ins[0] === ins[1]) return null
  return ins[0] === name ? ins[1]! : ins[1] === name ? ins[0]! : null
}

/** The single reader of `name` when it is a one-output `op` and `name` is no graph output. */
function only(index: GraphIndex, name: string, op: string): NodeProto | null {
  const readers = index.consumers(name)
  if (readers.length !== 1 || index.graphOutputs.has(name)) return null
  const r = readers[0]!
  return r.op_type === op && !r.domain && r.output?.length === 1 ? r : null
}

/** Clip limited to [0, 6]: by attributes below opset 11, by scalar constant inputs from 11. */
function isRelu6(clip: NodeProto, x: string, index: GraphIndex): boolean {
  const ins = clip.input ?? []
  const min = attr(clip, 'min')
  const max = attr(clip, 'max')
  if (min || max) return ins.length === 1 && min?.f === 0 && max?.f === 6
  return ins.length === 3 && shapeNeutral(ins[1]!, x, index) && shapeNeutral(ins[2]!, x, index)
    && scalarOf(index.floatConstant(ins[1]!)) === 0 && scalarOf(index.floatConstant(ins[2]!)) === 6
}

/** Whether `node` divides its input `name` by 6 (Div by 6 or Mul by 1/6). */
function sixthOf(node: NodeProto | undefined, name: string, x: string, index: GraphIndex): boolean {
  if (!node || node.domain || node.output?.length !== 1) return false
  const other = otherInput(node, name)
  if (other === null || !shapeNeutral(other, x, index)) return false
  const v = scalarOf(index.floatConstant(other))
  if (node.op_type === 'Div') return node.input![0] === name && v === 6
  return node.op_type === 'Mul' && near(v, SIXTH)
}

/**
 * Whether `name` is a one-element constant that keeps the shape of `x` when broadcast against
 * it (rank 0, or a rank no higher than x's known rank), so the single op may drop it.
 */
function shapeNeutral(name: string, x: string, index: GraphIndex): boolean {
  const c = index.floatConstant(name)
  if (c === null || c.values.length !== 1) return false
  return c.dims.length === 0 || (index.rankOf(x) ?? -1) >= c.dims.length
}

function hardSigmoidNode(index: GraphIndex, x: string, out: string, name?: string): NodeProto {
  return {
    name: name ?? index.newNodeName(`${out}_HardSigmoid`), op_type: 'HardSigmoid', input: [x], output: [out],
    attribute: [{ name: 'alpha', type: AttributeType.FLOAT, f: SIXTH }, { name: 'beta', type: AttributeType.FLOAT, f: 0.5 }],
  }
}

/**
 * Finds every chain starting at an `Add(x, 3)` and rewrites it:
 * - x * Clip(x + 3, 0, 6) / 6 (either order of Mul and Div) -> HardSwish(x), or
 *   HardSigmoid(x) * x below opset 14;
 * - y * Clip(x + 3, 0, 6) / 6 with y not x, or Clip(x + 3, 0, 6) / 6 alone -> HardSigmoid(x)
 *   (times y).
 * Also x * HardSigmoid(x; alpha 1/6, beta 0.5) -> HardSwish(x) from opset 14.
 */
export function recogniseHardSwish(index: GraphIndex, opset: number): HardSwishCounts {
  const counts: HardSwishCounts = { hardSwish: 0, hardSigmoid: 0, removed: [], replacements: new Map() }
  for (const node of [...(index.graph.node ?? [])]) {
    if (node.op_type === 'Add' && !node.domain) matchClipChain(node, index, opset, counts)
    else if (node.op_type === 'HardSigmoid' && !node.domain && opset >= 14) matchHardSigmoidMul(node, index, counts)
  }
  return counts
}

function matchClipChain(add: NodeProto, index: GraphIndex, opset: number, counts: HardSwishCounts): void {
  const ins = add.input ?? []
  if (ins.length !== 2 || add.output?.length !== 1) return
  const at = scalarOf(index.floatConstant(ins[1]!)) === 3 && shapeNeutral(ins[1]!, ins[0]!, index) ? 0
    : scalarOf(index.floatConstant(ins[0]!)) === 3 && shapeNeutral(ins[0]!, ins[1]!, index) ? 1 : -1
  if (at < 0) return
  const x = ins[at]!
  const clip = only(index, add.output[0]!, 'Clip')
  if (!clip || !isRelu6(clip, x, index)) return
  const c = clip.output![0]!
  const readers = index.consumers(c)
  if (readers.length !== 1 || index.graphOutputs.has(c)) return
  const next = readers[0]!
  const chain: NodeProto[] = [add, clip, next]
  let last: NodeProto
  let multiplier: string | null // what the hard sigmoid is multiplied by (null: nothing)
  if (sixthOf(next, c, x, index)) {
    // Clip(...) / 6 [* y]
    const h = next.output![0]!
    const mul = only(index, h, 'Mul')
    const y = mul ? otherInput(mul, h) : null
    if (mul && y !== null) { chain.push(mul); last = mul; multiplier = y } else { last = next; multiplier = null }
  } else if (next.op_type === 'Mul' && !next.domain && next.output?.length === 1) {
    // y * Clip(...) / 6
    const y = otherInput(next, c)
    const m = next.output[0]!
    const readersM = index.consumers(m)
    if (y === null || readersM.length !== 1 || index.graphOutputs.has(m) || !sixthOf(readersM[0], m, x, index)) return
    last = readersM[0]!
    chain.push(last)
    multiplier = y
  } else return
  if (chain.some((n) => counts.removed.includes(n))) return
  const out = last.output![0]!
  // the node that writes the chain's output keeps the name of the node it replaces, so a
  // skip_quant_node line written against the original model (as a graph viewer shows it) names it
  const outName = (suffix: string) => last.name || index.newNodeName(`${out}_${suffix}`)
  const replacement: NodeProto[] = []
  if (multiplier === x) {
    counts.hardSwish++
    if (opset >= 14) replacement.push({ name: outName('HardSwish'), op_type: 'HardSwish', input: [x], output: [out] })
    else {
      const h = index.newNodeName(`${out}_hardsigmoid`)
      replacement.push(hardSigmoidNode(index, x, h), { name: outName('Mul'), op_type: 'Mul', input: [x, h], output: [out] })
    }
  } else {
    counts.hardSigmoid++
    if (multiplier === null) replacement.push(hardSigmoidNode(index, x, out, outName('HardSigmoid')))
    else {
      const h = index.newNodeName(`${out}_hardsigmoid`)
      replacement.push(hardSigmoidNode(index, x, h), { name: outName('Mul'), op_type: 'Mul', input: [multiplier, h], output: [out] })
    }
  }
  counts.removed.push(...chain)
  counts.replacements.set(last, replacement)
}

function matchHardSigmoidMul(hs: NodeProto, index: GraphIndex, counts: HardSwishCounts): void {
  const x = hs.input?.[0]
  const h = hs.output?.[0]
  if (!x || !h || hs.output!.length !== 1) return
  if (!near(attr(hs, 'alpha')?.f ?? 0.2, SIXTH) || (attr(hs, 'beta')?.f ?? 0.5) !== 0.5) return
  const mul = only(index, h, 'Mul')
  if (!mul || otherInput(mul, h) !== x) return
  const out = mul.output![0]!
  if (counts.removed.includes(hs) || counts.removed.includes(mul)) return
  counts.hardSwish++
  counts.removed.push(hs, mul)
  counts.replacements.set(mul, [{ name: mul.name || index.newNodeName(`${out}_HardSwish`), op_type: 'HardSwish', input: [x], output: [out] }])
}

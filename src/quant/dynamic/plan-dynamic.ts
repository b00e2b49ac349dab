import { attr } from '../../onnx/graph-walk.js'
import { DataType, int64ToNumber, type GraphProto, type NodeProto } from '../../onnx/onnx-types.js'
import type { PlannedWeight } from '../weight-quant.js'

/** How convolution weights are stored in dynamic mode (never ConvInteger: see README). */
export type DynamicConvPolicy = 'weight-only' | 'float'

export type DynamicRoute =
  | { kind: 'int8'; transposed: boolean; alpha: number }
  | { kind: 'weight-only'; reason: string }
  | { kind: 'float'; reason: string }

function floatAttr(node: NodeProto, name: string, fallback: number): number {
  const a = attr(node, name)
  return a?.f ?? fallback
}

/** Beta of a Gemm (1 for other ops). */
export function gemmBeta(node: NodeProto): number {
  return node.op_type === 'Gemm' ? floatAttr(node, 'beta', 1) : 1
}

/**
 * Where one quantizable weight goes in dynamic mode: MatMul/Gemm weights that can feed
 * MatMulInteger become int8 with activations quantized at run time; Gather tables, recurrent
 * weights and (by policy) convolutions are stored int8 and decoded at load; the rest stays float.
 */
export function routeWeight(w: PlannedWeight, opsetOk: string | null, conv: DynamicConvPolicy, heads: ReadonlySet<NodeProto> = new Set(), head: DynamicHeadPolicy = 'float'): DynamicRoute {
  const uses = w.site.uses
  const ops = new Set(uses.map((u) => u.node.op_type))
  if (ops.has('Conv') || ops.has('ConvTranspose')) {
    return conv === 'float' ? { kind: 'float', reason: 'convolution (dynamic mode keeps convolutions float; ConvInteger is slower than float)' } : { kind: 'weight-only', reason: 'convolution: int8 stored, decoded to float at load (ConvInteger is slower than float)' }
  }
  if (!ops.has('MatMul') && !ops.has('Gemm')) return { kind: 'weight-only', reason: `${[...ops].join('/')} weight: int8 stored, decoded to float at load` }
  // the head policy first: a head that could not run int8 anyway (its weight behind a Transpose,
  // an old opset) must still stay float when the policy says so
  if (head !== 'int8' && uses.some((u) => heads.has(u.node))) return { kind: head, reason: HEAD_REASON[head] }
  const why = dynamicBlocker(w, opsetOk)
  if (why) return { kind: 'weight-only', reason: why }
  const first = uses[0]!.node
  if (first.op_type === 'Gemm') return { kind: 'int8', transposed: int64ToNumber(attr(first, 'transB')?.i) === 1, alpha: floatAttr(first, 'alpha', 1) }
  return { kind: 'int8', transposed: false, alpha: 1 }
}

/** How the output head is stored and computed in dynamic mode. */
export type DynamicHeadPolicy = 'float' | 'weight-only' | 'int8'

// Measured on PP-OCRv4 rec, greedy CTC text vs fp32 on 100 held-out words: head int8 92%
// identical, head weights int8 but computed in float 97%, head float 99%.
const HEAD_REASON = {
  'float': 'output head: its scores decide the result (int8 there changed the text PP-OCRv4 rec reads on 8% of words)',
  'weight-only': 'output head: int8 stored, computed in float (int8 activations there changed the text PP-OCRv4 rec reads on 8% of words)',
} as const

/** Ops that pass scores on to a graph output without mixing in other activations. */
const HEAD_TAIL = new Set(['Add', 'Softmax', 'LogSoftmax', 'Sigmoid', 'Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Identity', 'Flatten', 'Cast'])

/**
 * Nodes of a graph whose output reaches a graph output only through score-preserving ops
 * (bias Add, Softmax, reshapes): the classifier head. Its activations are the logits the
 * result is read from (argmax, CTC decoding), where per-tensor int8 rounding flips near ties.
 */
export function outputHeads(graph: GraphProto): Set<NodeProto> {
  const outputs = new Set((graph.output ?? []).map((o) => o.name))
  const readers = new Map<string, NodeProto[]>()
  for (const n of graph.node ?? []) for (const i of n.input ?? []) if (i) readers.set(i, [...(readers.get(i) ?? []), n])
  const memo = new Map<string, boolean>()
  const reachesOnlyOutput = (name: string, depth: number): boolean => {
    const known = memo.get(name)
    if (known !== undefined) return known
    const rs = readers.get(name) ?? []
    let ok = outputs.has(name) || rs.length > 0
    if (depth > 16) ok = false
    for (const r of rs) if (!ok || r.domain || !HEAD_TAIL.has(r.op_type ?? '') || !(r.output ?? []).every((o) => reachesOnlyOutput(o, depth + 1))) ok = false
    memo.set(name, ok)
    return ok
  }
  const heads = new Set<NodeProto>()
  for (const n of graph.node ?? []) if ((n.op_type === 'MatMul' || n.op_type === 'Gemm') && !n.domain && reachesOnlyOutput(n.output?.[0] ?? '', 0)) heads.add(n)
  return heads
}

function dynamicBlocker(w: PlannedWeight, opsetOk: string | null): string | null {
  if (opsetOk) return opsetOk
  const site = w.site
  if (site.definition.tensor.data_type !== DataType.FLOAT) return 'weight is not float32 (DynamicQuantizeLinear takes float32 activations)'
  if (site.dims.length !== 2) return `weight is ${site.dims.length}-D (MatMulInteger here takes a 2-D constant B)`
  const uses = site.uses
  if (uses.some((u) => u.node.op_type === 'MatMul' && u.inputIndex === 0)) return 'weight is MatMul\'s first input (MatMulInteger here takes a constant second input)'
  // a tied embedding: the Gather needs the table's float values, so the one int8 copy is decoded at load for both
  const others = [...new Set(uses.map((u) => u.node.op_type))].filter((op) => op !== 'MatMul' && op !== 'Gemm')
  if (others.length) return `weight is also read by ${others.join('/')} (a tied embedding): int8 stored, decoded to float at load for every op`
  if (uses.some((u) => u.inputIndex !== 1 || u.node.input?.[1] !== site.name)) return 'weight reaches its op through layout ops'
  const ops = new Set(uses.map((u) => u.node.op_type))
  if (ops.size !== 1) return 'weight is shared by MatMul and Gemm'
  if (ops.has('Gemm')) {
    const key = (n: NodeProto) => `${int64ToNumber(attr(n, 'transA')?.i)}/${int64ToNumber(attr(n, 'transB')?.i)}/${floatAttr(n, 'alpha', 1)}`
    if (new Set(uses.map((u) => key(u.node))).size !== 1) return 'Gemm uses disagree on transB or alpha'
    if (int64ToNumber(attr(uses[0]!.node, 'transA')?.i) === 1) return 'Gemm with transA=1'
  }
  return null
}

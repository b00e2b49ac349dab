import { addedError, type LayerDebug } from '../report/debug-csv/debug-summary.js'

export interface RankedNode {
  node: string
  opType: string
  /**
   * What `cost` measures. `output-cost` (FULL_QUANT, src/guard/output-cost.ts): the output
   * cosine vs fp32 gained by also keeping the node float (ranked by it per float FLOPs share). `added-error` (other modes): input
   * cosine minus output cosine (float vs quantized), the error the node itself adds.
   */
  by: 'output-cost' | 'added-error'
  cost: number
  /** added-error: the node's output cosine, float vs quantized. */
  cosine?: number
  /** output-cost: Conv/Gemm/MatMul multiply-adds that run float with the node. */
  floatFlops?: number
  /** output-cost: the other quantized nodes that go float with it (they read or write its tensors). */
  alsoFloat?: string[]
}

/**
 * Nodes ordered by the error they add, measured from the debug statistics (the ranking of the
 * modes other than FULL_QUANT): how much closer
 * to fp32 a node's inputs are than its output. Only nodes a skip_quant_node entry changes are
 * ranked (those reading or writing a quantized weight or a DequantizeLinear output: in FULL_QUANT, ops left
 * in float such as Div or Sigmoid are not), never ones already skipped or
 * unnamed ones, and never nodes whose name contains a comma (skip_quant_node cannot list them).
 * Nodes whose output is no worse than their inputs still come last: a layer can attenuate the
 * error it receives while its own rounding adds some (PP-OCRv4 rec at 4 bit has 27 quantized
 * nodes that visibly add error, and needs more than those to reach 0.99).
 */
export function rankNodes(layers: readonly LayerDebug[], alreadySkipped: readonly string[]): RankedNode[] {
  const skipped = new Set(alreadySkipped)
  return layers
    .filter((l) => l.node !== '' && !l.node.includes(',') && !skipped.has(l.node) && l.quantized)
    .map((l): RankedNode => ({ node: l.node, opType: l.opType, by: 'added-error', cost: addedError(l), cosine: l.cosine }))
    // ties (no measurable difference) go to the node whose output is furthest from fp32
    .sort((a, b) => b.cost - a.cost || a.cosine! - b.cosine!)
}

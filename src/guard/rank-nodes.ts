import { addedError, type LayerDebug } from '../report/debug-csv/debug-summary.js'

export interface RankedNode {
  node: string
  opType: string
  /** Input cosine minus output cosine (float vs quantized): the error the node itself adds. */
  addedError: number
  /** Its output's cosine, float vs quantized. */
  cosine: number
}

/**
 * Nodes ordered by the accuracy they cost, measured from the debug statistics: how much closer
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
    .map((l) => ({ node: l.node, opType: l.opType, addedError: addedError(l), cosine: l.cosine }))
    // ties (no measurable difference) go to the node whose output is furthest from fp32
    .sort((a, b) => b.addedError - a.addedError || a.cosine - b.cosine)
}

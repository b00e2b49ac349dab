import type { QuantizedLayer } from '../../quant/weight-quant.js'
import type { DebugStats } from './debug-stats.js'

/** One line of quant_param.csv: one channel of one quantized node input. */
export interface QuantParamRow {
  nodeName: string
  nodeType: string
  tensor: string
  elements: number
  dims: readonly number[]
  scale: number
  zeroPoint: number
  bits: number
  correctionVar: number
  correctionMean: number
}

/**
 * quant_param.csv's rows, as the format writes them (MindSpore's debug_info_manager.cc,
 * SaveQuantParam): for every node, in graph order, each input that has quantization
 * parameters (weights, int32 biases, and FULL_QUANT's activations read through a
 * DequantizeLinear), one row per channel. A quantized weight's parameters are those of `layers`
 * (the decode parameters stored in the model, correction folded in, and the correction terms);
 * other inputs' those of their DequantizeLinear, with the format's neutral correction (1 and 0).
 */
export function quantParamRows(stats: Pick<DebugStats, 'nodes' | 'dequantInputs'>, layers: readonly QuantizedLayer[]): QuantParamRow[] {
  const key = (node: string, tensor: string) => `${node}\u0000${tensor}`
  const layerOf = new Map<string, QuantizedLayer>()
  for (const l of layers) for (const n of l.nodes) layerOf.set(key(n.name, l.tensor), l)
  const dequantOf = new Map(stats.dequantInputs.map((d) => [`${d.node}\u0000${d.index}`, d]))
  const listed = new Set<string>()
  const rows: QuantParamRow[] = []
  const fromLayer = (node: { name: string; opType: string }, l: QuantizedLayer) => {
    listed.add(key(node.name, l.tensor))
    for (let c = 0; c < l.scale.length; c++) {
      rows.push({
        nodeName: node.name, nodeType: node.opType, tensor: l.tensor, elements: l.elements, dims: l.dims,
        scale: l.scale[c]!, zeroPoint: l.zeroPoint[c]!, bits: l.bits, correctionVar: l.correctionVar[c] ?? 1, correctionMean: l.correctionMean[c] ?? 0,
      })
    }
  }
  stats.nodes.forEach((n, i) => n.inputs.forEach((tensor, index) => {
    const l = layerOf.get(key(n.name, tensor))
    if (l) {
      if (!listed.has(key(n.name, tensor))) fromLayer({ name: n.name, opType: n.opType }, l)
      return
    }
    const d = dequantOf.get(`${i}\u0000${index}`)
    if (!d) return
    const elements = d.dims.reduce((a, b) => a * b, 1)
    for (let c = 0; c < d.params.scale.length; c++) {
      rows.push({
        nodeName: n.name, nodeType: n.opType, tensor: d.tensor, elements, dims: d.dims,
        scale: d.params.scale[c]!, zeroPoint: d.params.zeroPoint[c]!, bits: d.params.bits, correctionVar: 1, correctionMean: 0,
      })
    }
  }))
  // weights of nodes the compared graph does not have under that name, last
  for (const l of layers) for (const n of l.nodes) if (!listed.has(key(n.name, l.tensor))) fromLayer(n, l)
  return rows
}

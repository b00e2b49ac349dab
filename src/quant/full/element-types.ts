import { attr } from '../../onnx/graph-walk.js'
import { DataType, int64ToNumber } from '../../onnx/onnx-types.js'
import type { GraphIndex } from './graph-index.js'

/**
 * The element type of every tensor of the graph, propagated from the inputs and constants
 * through the ops (no shapes needed): only float activations are quantized, and shape
 * arithmetic (Shape -> Cast -> Concat -> Reshape in PP-OCR rec) must not be taken for one.
 */
export function elementTypes(index: GraphIndex): Map<string, number> {
  const types = new Map<string, number>()
  const g = index.graph
  for (const v of [...(g.input ?? []), ...(g.value_info ?? []), ...(g.output ?? [])]) {
    const t = v.type?.tensor_type?.elem_type
    if (v.name && t) types.set(v.name, t)
  }
  for (const [name, c] of index.constants) types.set(name, c.tensor.data_type ?? 0)
  for (const node of index.order) {
    const out = node.output ?? []
    const first = (node.input ?? []).map((i) => types.get(i)).find((t) => t !== undefined) ?? DataType.UNDEFINED
    const set = (i: number, t: number): void => { if (out[i] && !types.has(out[i]!)) types.set(out[i]!, t) }
    switch (node.op_type) {
      case 'Constant': break
      case 'Shape': case 'Size': case 'ArgMax': case 'ArgMin': case 'NonZero': set(0, DataType.INT64); break
      case 'Cast': set(0, int64ToNumber(attr(node, 'to')?.i)); break
      case 'Equal': case 'Less': case 'Greater': case 'LessOrEqual': case 'GreaterOrEqual': case 'Not': case 'And': case 'Or': case 'Xor': case 'IsNaN': case 'IsInf':
        set(0, DataType.BOOL); break
      case 'Where': set(0, types.get(node.input?.[1] ?? '') ?? DataType.UNDEFINED); break
      case 'ConstantOfShape': set(0, attr(node, 'value')?.t?.data_type ?? DataType.FLOAT); break
      case 'TopK': set(0, first); set(1, DataType.INT64); break
      case 'QuantizeLinear': set(0, types.get(node.input?.[2] ?? '') ?? DataType.UINT8); break
      case 'DequantizeLinear': set(0, DataType.FLOAT); break
      default: for (let i = 0; i < out.length; i++) set(i, first)
    }
  }
  return types
}

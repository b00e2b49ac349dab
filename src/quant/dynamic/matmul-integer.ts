import { AttributeType, DataType, type GraphProto, type NodeProto, type TensorProto } from '../../onnx/onnx-types.js'
import { makeTensor } from '../../onnx/tensor-data.js'
import { type NameAllocator } from '../../onnx/graph-walk.js'
import type { WeightSite } from '../weight-sites.js'
import type { ColumnInt8 } from './column-int8.js'

function constantNode(names: NameAllocator, tensor: TensorProto): NodeProto {
  return { name: names.take(`${tensor.name}_Constant`), op_type: 'Constant', input: [], output: [tensor.name!], attribute: [{ name: 'value', type: AttributeType.TENSOR, t: tensor }] }
}

/** Put new constant tensors where the float weight was defined (initializer or Constant node). */
function replaceDefinition(site: WeightSite, tensors: TensorProto[], names: NameAllocator): void {
  const def = site.definition
  if (def.kind === 'constant') {
    const list = def.graph.node!
    list.splice(list.indexOf(def.node), 1, ...tensors.map((t) => constantNode(names, t)))
    return
  }
  const inits = def.graph.initializer!
  inits.splice(inits.indexOf(def.tensor), 1, ...tensors)
  // IR < 4 exporters list initializers as graph inputs; the float weight no longer exists
  if (def.graph.input) def.graph.input = def.graph.input.filter((i) => i.name !== site.name)
}

/** The graph that holds `node` (the weight's own graph or one of its subgraphs). */
export type NodeGraph = (node: NodeProto) => GraphProto

/**
 * Rewrite every use of a MatMul/Gemm weight into the form onnxruntime fuses into its
 * DynamicQuantizeMatMul kernel (DynamicQuantizeLinear → MatMulInteger → Cast → Mul by
 * a_scale * b_scale; a following bias Add fuses too). The fusion needs each
 * DynamicQuantizeLinear's three outputs to have one consumer each, so every use gets its own.
 * Gemm's C (times beta) is added after the Mul; alpha is folded into the scales.
 */
export function rewriteToMatMulInteger(site: WeightSite, q: ColumnInt8, names: NameAllocator, graphOf: NodeGraph, beta: (node: NodeProto) => number): void {
  const base = site.name
  const codesName = names.take(`${base}_quantized`)
  const scaleName = names.take(`${base}_scale`)
  replaceDefinition(site, [
    makeTensor(codesName, DataType.INT8, [q.k, q.n], q.codes),
    makeTensor(scaleName, DataType.FLOAT, [q.n], q.scale),
  ], names)
  for (const use of site.uses) {
    const node = use.node
    const graph = graphOf(node)
    const p = node.name || node.output![0]!
    const x = node.input![0]!
    const y = node.output![0]!
    const xq = names.take(`${p}_input_quantized`)
    const xs = names.take(`${p}_input_scale`)
    const xz = names.take(`${p}_input_zero_point`)
    const yi = names.take(`${p}_int32`)
    const yf = names.take(`${p}_int32_float`)
    const s = names.take(`${p}_scale`)
    const c = node.op_type === 'Gemm' ? node.input?.[2] ?? '' : ''
    const mm = c ? names.take(`${p}_product`) : y
    const nodes: NodeProto[] = [
      { name: names.take(`${p}_DynamicQuantizeLinear`), op_type: 'DynamicQuantizeLinear', input: [x], output: [xq, xs, xz] },
      { name: names.take(`${p}_MatMulInteger`), op_type: 'MatMulInteger', input: [xq, codesName, xz], output: [yi] },
      // a_scale first: the fused kernel reads the scales in this order
      { name: names.take(`${p}_Scale`), op_type: 'Mul', input: [xs, scaleName], output: [s] },
      { name: names.take(`${p}_Cast`), op_type: 'Cast', input: [yi], output: [yf], attribute: [{ name: 'to', type: AttributeType.INT, i: DataType.FLOAT }] },
      { name: names.take(`${p}_Rescale`), op_type: 'Mul', input: [yf, s], output: [mm] },
    ]
    if (c) {
      const b = beta(node)
      let bias = c
      if (b !== 1) {
        const betaName = names.take(`${p}_beta`)
        bias = names.take(`${p}_scaled_bias`)
        nodes.push(constantNode(names, makeTensor(betaName, DataType.FLOAT, [], Float32Array.of(b))))
        nodes.push({ name: names.take(`${p}_ScaleBias`), op_type: 'Mul', input: [c, betaName], output: [bias] })
      }
      nodes.push({ name: names.take(`${p}_AddBias`), op_type: 'Add', input: [mm, bias], output: [y] })
    }
    const list = graph.node!
    list.splice(list.indexOf(node), 1, ...nodes)
  }
}

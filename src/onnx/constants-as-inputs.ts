import type { NameAllocator } from './graph-walk.js'
import type { GraphProto, ModelProto, NodeProto, TensorProto } from './onnx-types.js'
import { tensorDims } from './tensor-data.js'

/** A constant tensor where the model defines it: a graph initializer, or a `Constant` node's value. */
export interface ConstantDefinition {
  graph: GraphProto
  tensor: TensorProto
  /** The `Constant` node whose value `tensor` is; absent for an initializer. */
  node?: NodeProto
}

/** The name a definition gives its tensor. */
function definedName(def: ConstantDefinition): string {
  return (def.node ? def.node.output?.[0] : def.tensor.name) ?? ''
}

/**
 * Turn constant tensors into inputs of the main graph, so that one onnxruntime session runs the
 * model with any values in them: scoring a weight's quantized values then costs one inference,
 * where a model with the values written in costs an encode and a session (PP-OCRv4 det, 4
 * samples at 320x320: 210 ms against 300 ms; rec: 145 against 270). A constant of the main graph
 * becomes an input of its own name. One of a subgraph, or one the main graph also outputs,
 * becomes an Identity of a newly named input, in the constant's place: its readers and the
 * scopes they resolve it in stay as they were, and no graph outputs an input directly
 * (onnxruntime rejects a subgraph output that is an outer-scope value). Returns each constant's
 * input name, in order. Mutates `model`.
 */
export function constantsAsInputs(model: ModelProto, defs: readonly ConstantDefinition[], names: NameAllocator): string[] {
  const main = model.graph
  if (!main) throw new Error('the model has no graph')
  return defs.map((def) => {
    const old = definedName(def)
    if (!old) throw new Error('a constant without a name cannot become an input')
    const graphInputs = main.input ?? []
    // graphs of IR < 4 list their initializers among the inputs already
    if (def.graph === main && !def.node && graphInputs.some((v) => v.name === old)) {
      main.initializer = (main.initializer ?? []).filter((t) => t !== def.tensor)
      return old
    }
    const direct = def.graph === main && !(main.output ?? []).some((v) => v.name === old)
    const name = direct ? old : names.take(old)
    const identity: NodeProto | null = direct ? null : { name: names.take(`${old}_fed`), op_type: 'Identity', input: [name], output: [old], attribute: [] }
    const nodes = def.graph.node ?? []
    if (def.node) def.graph.node = nodes.flatMap((n) => (n === def.node ? (identity ? [identity] : []) : [n]))
    else {
      def.graph.initializer = (def.graph.initializer ?? []).filter((t) => t !== def.tensor)
      if (identity) def.graph.node = [identity, ...nodes]
    }
    ;(main.input ??= []).push({ name, type: { tensor_type: { elem_type: def.tensor.data_type, shape: { dim: tensorDims(def.tensor).map((d) => ({ dim_value: d })) } } } })
    return name
  })
}

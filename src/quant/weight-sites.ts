import { allGraphScopes, attr, type GraphScope } from '../onnx/graph-walk.js'
import { DataType, int64ToNumber, type GraphProto, type ModelProto, type NodeProto, type TensorProto } from '../onnx/onnx-types.js'
import { tensorDims } from '../onnx/tensor-data.js'

/** Where a constant tensor is defined: a graph initializer or a `Constant` node's `value`. */
export type WeightDefinition =
  | { kind: 'initializer'; graph: GraphProto; scope: GraphScope; tensor: TensorProto }
  | { kind: 'constant'; graph: GraphProto; scope: GraphScope; tensor: TensorProto; node: NodeProto }

export interface WeightUse {
  node: NodeProto
  inputIndex: number
  /** The axis whose slices get their own scale: the op's output-channel axis for this weight. */
  channelAxis: number
}

export interface WeightSite {
  name: string
  definition: WeightDefinition
  dims: number[]
  uses: WeightUse[]
  /** Uses by ops or inputs that are not a weight role; such tensors stay float. */
  otherUses: NodeProto[]
}

/** Op types whose constant weight inputs are quantized, and which inputs those are. */
export const WEIGHT_OPS: Record<string, readonly number[]> = {
  Conv: [1], ConvTranspose: [1], MatMul: [1], Gemm: [1], Gather: [0],
  // Our extension beyond the format's list: recurrent weights W and R ([dirs, gates*hidden, in]).
  // They hold most of silero VAD's bytes, and the decode folds at load like any other weight.
  LSTM: [1, 2], GRU: [1, 2], RNN: [1, 2],
}

function channelAxisFor(node: NodeProto, rank: number): number | null {
  switch (node.op_type) {
    case 'Conv': return 0
    case 'ConvTranspose': return 1
    case 'MatMul': return rank - 1
    case 'Gemm': return int64ToNumber(attr(node, 'transB')?.i) ? 0 : 1
    case 'LSTM':
    case 'GRU':
    case 'RNN':
      return 1
    case 'Gather': {
      const axis = int64ToNumber(attr(node, 'axis')?.i)
      return axis < 0 ? axis + rank : axis
    }
    default: return null
  }
}

function isFloat(t: TensorProto): boolean {
  const type = t.data_type ?? 0
  return type === DataType.FLOAT || type === DataType.FLOAT16 || type === DataType.DOUBLE || type === DataType.BFLOAT16
}

/**
 * Every constant float tensor of the model with every place that reads it, across the main graph
 * and If/Loop/Scan subgraphs (an inner graph may read an outer weight by name).
 */
export function findWeightSites(model: ModelProto): WeightSite[] {
  const scopes = allGraphScopes(model)
  // Per graph: locally defined names. A non-constant definition shadows outer weights.
  const locals = new Map<GraphProto, Map<string, WeightDefinition | null>>()
  for (const scope of scopes) {
    const defs = new Map<string, WeightDefinition | null>()
    for (const input of scope.graph.input ?? []) if (input.name) defs.set(input.name, null)
    for (const tensor of scope.graph.initializer ?? []) {
      // Old exporters (IR < 4) list every initializer as a graph input too; runtimes treat those as
      // constants in practice, and the rewriter drops the input entry of a tensor it replaces.
      if (tensor.name) defs.set(tensor.name, { kind: 'initializer', graph: scope.graph, scope, tensor })
    }
    for (const node of scope.graph.node ?? []) {
      const value = node.op_type === 'Constant' && !node.domain ? attr(node, 'value') : undefined
      for (const out of node.output ?? []) {
        defs.set(out, value?.t && Object.prototype.hasOwnProperty.call(value, 't')
          ? { kind: 'constant', graph: scope.graph, scope, tensor: value.t, node }
          : null)
      }
    }
    locals.set(scope.graph, defs)
  }
  const resolve = (scope: GraphScope | null, name: string): WeightDefinition | null => {
    for (let s = scope; s; s = s.parent) {
      const defs = locals.get(s.graph)!
      if (defs.has(name)) return defs.get(name) ?? null
    }
    return null
  }
  const sites = new Map<WeightDefinition, WeightSite>()
  for (const scope of scopes) {
    for (const node of scope.graph.node ?? []) {
      ;(node.input ?? []).forEach((name, inputIndex) => {
        if (!name) return
        const def = resolve(scope, name)
        if (!def || !isFloat(def.tensor)) return
        let site = sites.get(def)
        if (!site) {
          site = { name, definition: def, dims: tensorDims(def.tensor), uses: [], otherUses: [] }
          sites.set(def, site)
        }
        const weightInputs = node.domain ? undefined : WEIGHT_OPS[node.op_type ?? '']
        const axis = weightInputs?.includes(inputIndex) ? channelAxisFor(node, site.dims.length) : null
        if (axis !== null) site.uses.push({ node, inputIndex, channelAxis: axis })
        else site.otherUses.push(node)
      })
    }
  }
  return [...sites.values()].filter((s) => s.uses.length > 0)
}

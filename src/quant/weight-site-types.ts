import type { GraphProto, NodeProto, TensorProto } from '../onnx/onnx-types.js'
import type { GraphScope } from '../onnx/graph-walk.js'
import type { Exposure } from '../onnx/exposed-constants.js'

// The weight sites findWeightSites (weight-sites.ts) returns, apart from it so that the path
// helpers (weight-paths.ts) can name them without importing it.

/** Where a constant tensor is defined: a graph initializer or a `Constant` node's `value`. */
export type WeightDefinition =
  | { kind: 'initializer'; graph: GraphProto; scope: GraphScope; tensor: TensorProto }
  | { kind: 'constant'; graph: GraphProto; scope: GraphScope; tensor: TensorProto; node: NodeProto }

export interface WeightUse {
  node: NodeProto
  inputIndex: number
  /** The axis whose slices get their own scale: the op's output-channel axis for this weight. */
  channelAxis: number
  /**
   * The op reads the weight through layout ops that may move its elements (Transpose, Reshape,
   * Slice, Concat, Squeeze), so the op's [K, N] or [out, in, ...] view is not the stored layout:
   * anything that indexes the stored values as the op's operand (bias correction, error
   * feedback) must leave such a weight alone. False for direct reads, Identity and float Cast
   * paths, and an Unsqueeze that reads the weight directly with known axes.
   */
  reordered: boolean
}

export interface WeightSite {
  name: string
  definition: WeightDefinition
  dims: number[]
  uses: WeightUse[]
  /** Uses by ops or inputs that are not a weight role; such tensors stay float. */
  otherUses: NodeProto[]
  /**
   * Seen from outside the graph, directly or through layout ops: a graph output, (IR >= 4) an
   * initializer also listed as a graph input, which a caller may feed, or an initializer that
   * training_info updates or reads (its bindings must name initializers). Such tensors stay float.
   */
  exposed: Exposure | null
  /**
   * With no use: weight inputs of ops the tensor still reaches, through ops not followed (a
   * reshape into a Conv, a Transpose into a Gather, layout ops mixed with others). It stays
   * float, and the report says so rather than leaving it out.
   */
  unfollowed: NodeProto[]
  /**
   * The name has another definition in the weight's graph, a graph around it or a subgraph inside
   * it (a second initializer or Constant of that name, a subgraph's own tensor shadowing it):
   * onnxruntime keeps one of them when the weight is an initializer, but rejects the model once
   * the weight becomes a decode node's output. Such tensors stay float. Sibling subgraphs (the
   * two branches of an If) may each define the name: neither sees the other's.
   */
  redefined: boolean
}

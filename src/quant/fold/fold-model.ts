import { allGraphScopes, NameAllocator, opsetVersion } from '../../onnx/graph-walk.js'
import { int64ToNumber, type ModelProto, type NodeProto } from '../../onnx/onnx-types.js'
import type { ExternalDataSource } from '../../onnx/tensor-data.js'
import { foldConvAffines } from './conv-affine.js'
import { foldConvInputAffines } from './conv-input-affine.js'
import { GraphIndex } from './graph-index.js'
import { removeIdentityArithmetic } from './identity-arithmetic.js'
import { recogniseHardSwish } from './hard-swish.js'
import { pruneGraph } from './prune.js'

/** What `foldForInt8` rewrote. */
export interface FoldReport {
  /** BatchNormalization nodes folded into the preceding Conv/ConvTranspose. */
  batchNorms: number
  /**
   * Mul/Div/Add/Sub nodes by a scalar or per-channel constant folded into the Conv/ConvTranspose
   * that feeds them, or into the unpadded Conv they feed (a note says how many of those).
   */
  affines: number
  /**
   * x * Clip(x + 3, 0, 6) / 6 chains (and x * HardSigmoid(x) at opset >= 14) recognised: one
   * HardSwish node from opset 14, HardSigmoid(x) * x below.
   */
  hardSwish: number
  /** y * Clip(x + 3, 0, 6) / 6 and Clip(x + 3, 0, 6) / 6 chains rewritten to HardSigmoid(x) (* y). */
  hardSigmoid: number
  /**
   * Nodes fewer in the model than before: folded nodes, replaced chains, orphaned Constants, and
   * arithmetic that changes nothing (x * 1, x + 0; a note counts those).
   */
  removed: number
  /**
   * Weights and biases the folds wrote as new constants (`<conv>_folded_W`, `<conv>_folded_B`),
   * each with the constant of the model as given that it replaces (a conv folded twice still
   * names its original weight). The debug reports and the report's layers name them by
   * `original`, the name the user's model has; a bias the conv did not have is not listed.
   */
  renamed: { tensor: string; original: string }[]
  notes: string[]
}

export interface FoldOptions {
  /** Reads weights stored outside the model file (see src/onnx/external-data.ts); without it they are not folded. */
  external?: ExternalDataSource
}

/**
 * Exact float simplifications that let onnxruntime's int8 kernels fuse: BatchNormalization and
 * per-channel affine Mul/Add folded into the preceding Conv, HardSwish/HardSigmoid chains
 * replaced by single nodes. Rewrites the model in place; float outputs change only by rounding.
 * Graph input and output names, and every tensor read outside a rewritten chain, keep their
 * names; shared constants are never modified (folded weights are new initializers).
 */
export function foldForInt8(model: ModelProto, options: FoldOptions = {}): FoldReport {
  const report: FoldReport = { batchNorms: 0, affines: 0, hardSwish: 0, hardSigmoid: 0, removed: 0, renamed: [], notes: [] }
  if (!model.graph) return report
  const opset = opsetVersion(model)
  const names = NameAllocator.forModel(model)
  const unreadable = new Set<string>()
  const indexOptions = { external: options.external, constantNodes: int64ToNumber(model.ir_version) < 4, unreadable }
  const nodesBefore = countNodes(model)
  let forward = 0
  const renamed: { tensor: string; original: string }[] = []
  let identities = 0
  for (const { graph } of allGraphScopes(model)) {
    const neutral = removeIdentityArithmetic(new GraphIndex(graph, names, indexOptions))
    identities += neutral.removed.length
    pruneGraph(graph, neutral.removed)

    const convs = foldConvAffines(new GraphIndex(graph, names, indexOptions))
    report.batchNorms += convs.batchNorms
    report.affines += convs.affines
    pruneGraph(graph, convs.removed, convs.released)
    renamed.push(...convs.renamed)

    const chains = recogniseHardSwish(new GraphIndex(graph, names, indexOptions), opset)
    report.hardSwish += chains.hardSwish
    report.hardSigmoid += chains.hardSigmoid
    // each chain's new nodes take the place of its last node, after everything the chain read
    graph.node = (graph.node ?? []).flatMap((n): NodeProto[] => chains.replacements.get(n) ?? [n])
    pruneGraph(graph, chains.removed)

    // after the chains, so that a hard-swish's closing Div is not taken for an affine
    const inputs = foldConvInputAffines(new GraphIndex(graph, names, indexOptions))
    report.affines += inputs.affines
    forward += inputs.affines
    pruneGraph(graph, inputs.removed, inputs.released)
    renamed.push(...inputs.renamed)
  }
  // A conv folded on both sides replaced its first folded weight by a second: list the one the
  // model keeps, under the name of the model's own constant.
  const original = new Map(renamed.map((r) => [r.tensor, r.original]))
  const replaced = new Set(renamed.map((r) => r.original))
  const root = (name: string): string => {
    for (let i = 0; i < renamed.length && original.has(name); i++) name = original.get(name)!
    return name
  }
  report.renamed = renamed.filter((r) => !replaced.has(r.tensor)).map((r) => ({ tensor: r.tensor, original: root(r.tensor) }))
  report.removed = nodesBefore - countNodes(model)
  if (unreadable.size > 0) report.notes.push(`${unreadable.size} weights stored in external data were not folded: no external data source was given`)
  if (identities > 0) report.notes.push(`${identities} Mul/Div by 1 or Add/Sub of 0 removed`)
  if (forward > 0) report.notes.push(`${forward} of the ${report.affines} affines fed an unpadded Conv and were folded into it`)
  if (report.hardSwish > 0 && opset < 14) {
    report.notes.push(`opset ${opset} has no HardSwish (opset 14): ${report.hardSwish} hard-swish chains became HardSigmoid + Mul`)
  }
  return report
}

function countNodes(model: ModelProto): number {
  return allGraphScopes(model).reduce((n, { graph }) => n + (graph.node?.length ?? 0), 0)
}

import { allGraphScopes, allNames, opsetVersion, NameAllocator } from '../onnx/graph-walk.js'
import type { GraphProto, NodeProto } from '../onnx/onnx-types.js'
import { quantizeColumnsInt8, type ColumnInt8 } from '../quant/dynamic/column-int8.js'
import { rewriteToMatMulInteger } from '../quant/dynamic/matmul-integer.js'
import { raiseOpset, type OpsetUpgrade } from '../quant/opset-upgrade.js'
import { gemmBeta, outputHeads, routeWeight, type DynamicConvPolicy, type DynamicHeadPolicy, type DynamicRoute } from '../quant/dynamic/plan-dynamic.js'
import { applyWeightPlan, planWeights, type PlannedWeight, type QuantizedLayer } from '../quant/weight-quant.js'
import type { ModeContext, ModeResult } from './mode.js'
import { tallyReasons } from './reason-tally.js'

/** DynamicQuantizeLinear, the op that quantizes activations at run time, exists from opset 11. */
const DYNAMIC_OPSET = 11

/** A MatMul or Gemm that now runs in int8, its activations quantized at run time. */
export interface DynamicInt8Node {
  node: string
  opType: string
  tensor: string
  /**
   * The weight's dims in the float model, as layers[] and quant_param.csv give them (a Gemm
   * with transB=1 has [N, K]; MatMulInteger reads its codes as [K, N]).
   */
  dims: number[]
  /** Stored [N, K] (Gemm transB=1): the codes MatMulInteger reads are its transpose. */
  transposed: boolean
  /** ||W - W_hat|| / ||W|| of the int8 weight. */
  relativeError: number
}

/** A weight stored as int8 and decoded to float when onnxruntime loads the model. */
export interface DynamicWeightOnlyNode {
  nodes: string[]
  opType: string
  tensor: string
  reason: string
}

/** An op whose weight stayed float. */
export interface DynamicFloatNode {
  nodes: string[]
  opType: string
  tensor: string
  reason: string
}

/** DYNAMIC_QUANT details for the report. */
export interface DynamicQuantReport {
  /** MatMul/Gemm nodes rewritten to DynamicQuantizeLinear → MatMulInteger → Cast → Mul. */
  int8: DynamicInt8Node[]
  /** Weights of other ops (Gather tables, convolutions, recurrent weights): int8 in the file, float at run time. */
  weightOnly: DynamicWeightOnlyNode[]
  /** Weights left float, with the reason (thresholds, skip_quant_node, policy). */
  float: DynamicFloatNode[]
  /** How convolution weights were treated. */
  convolutions: DynamicConvPolicy
  /** Set when the model's opset was raised to 11 for DynamicQuantizeLinear. */
  opsetUpgrade: OpsetUpgrade | null
  notes: string[]
}

/** Library-only knob for dynamic mode (the cfg has none). */
export interface DynamicQuantOptions {
  /**
   * Leave convolution weights float, or store them as int8 decoded at load ('weight-only': same
   * speed, a smaller file). Float by default: on PP-OCRv4 rec, int8 convolutions on top of the
   * dynamic MatMuls drop output cosine from 0.9995 to 0.989 (see README, "How DYNAMIC_QUANT works").
   * @default 'float'
   */
  convolutions?: DynamicConvPolicy
  /**
   * The output head (a MatMul/Gemm whose result reaches a graph output through bias Add, Softmax
   * or reshapes only): 'float' leaves it float, 'weight-only' stores its weight int8 and computes
   * in float, 'int8' makes it dynamic like the rest. Float by default: its scores are what the
   * result is read from (see README, "How DYNAMIC_QUANT works").
   * @default 'float'
   */
  outputHead?: DynamicHeadPolicy
}

function graphIndex(ctx: ModeContext): (node: NodeProto) => GraphProto {
  const map = new Map<NodeProto, GraphProto>()
  for (const { graph } of allGraphScopes(ctx.model)) for (const n of graph.node ?? []) map.set(n, graph)
  return (node) => map.get(node)!
}

const nodeNames = (w: PlannedWeight) => w.site.uses.map((u) => u.node.name ?? '')
const opOf = (w: PlannedWeight) => w.site.uses[0]?.node.op_type ?? ''

/**
 * DYNAMIC_QUANT: MatMul and Gemm weights become int8 per output column, and their activations
 * are quantized per tensor at run time in the form onnxruntime fuses into DynamicQuantizeMatMul.
 * Gather tables, recurrent weights and convolution weights are stored int8 and decoded at load.
 */
export async function quantizeDynamic(ctx: ModeContext, options: DynamicQuantOptions = {}): Promise<ModeResult> {
  const { model, ext, cfg } = ctx
  const conv = options.convolutions ?? 'float'
  ctx.options.onProgress?.('quantizing MatMul/Gemm weights for dynamic int8')
  const notes: string[] = []
  const plan = planWeights(model, ext ?? undefined, {
    bits: 8, minQuantWeightSize: cfg.minQuantWeightSize, minQuantWeightChannel: cfg.minQuantWeightChannel, skipQuantNode: cfg.skipQuantNode,
  })
  const head = options.outputHead ?? 'float'
  const heads = head === 'int8' ? new Set<NodeProto>() : outputHeads(model.graph ?? {})
  const wantsMatMul = plan.planned.some((w) => routeWeight(w, null, conv, heads, head).kind === 'int8')
  let opsetUpgrade: OpsetUpgrade | null = null
  let opsetBlock: string | null = null
  if (wantsMatMul && opsetVersion(model) < DYNAMIC_OPSET) {
    const names = new NameAllocator(allNames(model))
    const up = raiseOpset(model, DYNAMIC_OPSET, names)
    opsetUpgrade = up.upgrade
    if (up.upgrade) notes.push(`opset raised from ${up.upgrade.from} to ${DYNAMIC_OPSET} for DynamicQuantizeLinear (rewritten: ${Object.entries(up.upgrade.rewritten).map(([op, n]) => `${n} ${op}`).join(', ') || 'none'})`)
    else {
      opsetBlock = `opset ${opsetVersion(model)} < 11 and ${up.blockers.join(', ')} changed meaning by opset 11`
      ctx.warnings.push(`DYNAMIC_QUANT: MatMul/Gemm weights stored int8 but computed in float: ${opsetBlock}`)
    }
  }
  const routes = new Map<PlannedWeight, DynamicRoute>(plan.planned.map((w) => [w, routeWeight(w, opsetBlock, conv, heads, head)]))
  const byKind = (kind: DynamicRoute['kind']) => plan.planned.filter((w) => routes.get(w)!.kind === kind)
  const weightOnly = byKind('weight-only')
  const stayFloat = byKind('float')
  const int8 = byKind('int8')
  // weight-only first, while the int8 weights' sites are still intact
  const wo = applyWeightPlan(model, { ...plan, planned: weightOnly }, 8)
  const graphOf = graphIndex(ctx)
  const names = new NameAllocator(allNames(model))
  const layers: QuantizedLayer[] = [...wo.layers]
  const int8Nodes: DynamicInt8Node[] = []
  const decodedWeights = new Map<string, () => Float32Array>()
  for (const w of int8) {
    const route = routes.get(w) as Extract<DynamicRoute, { kind: 'int8' }>
    const [r, c] = w.site.dims as [number, number]
    const [k, n] = route.transposed ? [c, r] : [r, c]
    const q = quantizeColumnsInt8(w.readValues(), k, n, route.transposed, route.alpha)
    for (const u of w.site.uses) int8Nodes.push({ node: u.node.name ?? '', opType: u.node.op_type ?? '', tensor: w.site.name, dims: [...w.site.dims], transposed: route.transposed, relativeError: q.relativeError })
    decodedWeights.set(w.site.name, () => decodeColumns(q, route.transposed, route.alpha))
    layers.push({
      nodes: w.site.uses.map((u) => ({ name: u.node.name ?? '', opType: u.node.op_type ?? '' })), tensor: w.site.name, dims: w.site.dims, elements: w.elements,
      bits: 8, axis: route.transposed ? 0 : 1, scale: q.scale, zeroPoint: new Float32Array(n), correctionVar: new Float32Array(n).fill(1), correctionMean: new Float32Array(n),
      relativeError: q.relativeError, clip: 0,
    })
    rewriteToMatMulInteger(w.site, q, names, graphOf, gemmBeta)
  }
  const reasonOf = (w: PlannedWeight) => (routes.get(w) as { reason: string }).reason
  const routedFloat: DynamicFloatNode[] = stayFloat.map((w) => ({ nodes: nodeNames(w), opType: opOf(w), tensor: w.site.name, reason: reasonOf(w) }))
  const skippedFloat: DynamicFloatNode[] = plan.skipped.map((s) => ({ nodes: s.nodes.map((x) => x.name), opType: s.nodes[0]?.opType ?? '', tensor: s.tensor, reason: s.reason }))
  // a model left entirely float is worth a word, not just a 100% size in the summary
  if (layers.length === 0 && routedFloat.length + skippedFloat.length > 0) {
    const list = tallyReasons([...routedFloat, ...skippedFloat].map((f) => `${f.opType}: ${f.reason}`))
    const convs = routedFloat.some((f) => f.opType === 'Conv' || f.opType === 'ConvTranspose')
    ctx.warnings.push(`DYNAMIC_QUANT quantized no weight, the output is the float model (${list})${convs ? '; WEIGHT_QUANT stores convolution weights in int8, FULL_QUANT also computes them in int8' : ''}`)
  }
  const report: DynamicQuantReport = {
    int8: int8Nodes,
    weightOnly: weightOnly.map((w) => ({ nodes: nodeNames(w), opType: opOf(w), tensor: w.site.name, reason: reasonOf(w) })),
    float: [...skippedFloat, ...routedFloat],
    convolutions: conv,
    opsetUpgrade,
    notes,
  }
  return { layers, skipped: plan.skipped, warnings: plan.warnings, biasCorrected: 0, accuracy: null, dynamic: report, decodedWeights }
}

/**
 * An int8 weight as the model computes with it, in the float weight's layout ([N, K] when
 * `transposed`): MatMulInteger reads the codes and the scale multiplies the product, so no
 * tensor of the model holds it, and the debug reports' Dequant rows need it. Gemm's alpha,
 * folded into the scale, is taken back out: the float model applies it to the product.
 */
function decodeColumns(q: ColumnInt8, transposed: boolean, alpha: number): Float32Array {
  const out = new Float32Array(q.k * q.n)
  for (let r = 0; r < q.k; r++) {
    for (let c = 0; c < q.n; c++) out[transposed ? c * q.k + r : r * q.n + c] = q.codes[r * q.n + c]! * (q.scale[c]! / alpha)
  }
  return out
}

import ort from 'onnxruntime-node'
import type { QuantConfig } from '../cfg/index.js'
import { decodeModelProto, encodeModelProto } from '../onnx/codec.js'
import { DataType, type NodeProto } from '../onnx/onnx-types.js'
import { tensorDims } from '../onnx/tensor-data.js'
import { fullQuantSettings, type FullQuantReport } from '../modes/full-quant.js'
import { foldForInt8 } from '../quant/fold/fold-model.js'
import { gatedModel } from '../quant/full/gated-rounding.js'
import type { ConstantDef } from '../quant/full/graph-index.js'
import { prepareQdq } from '../quant/full/qdq-model.js'
import { planQdq, type QdqPlan } from '../quant/full/qdq-plan.js'
import { ExposedRunner } from '../report/debug-csv/exposed-values.js'
import type { Feeds } from '../runtime/feeds.js'
import { numericData } from '../runtime/numeric-data.js'
import { OutputCosines } from '../runtime/output-cosine.js'
import { ONE_THREAD_SESSION } from '../runtime/session-options.js'
import { tensorOutputs } from '../runtime/tensor-outputs.js'
import type { RankedNode } from './rank-nodes.js'
import { roundedConstants } from './rounded-constants.js'

/**
 * Nodes are ordered by the output cosine they gain per share of the quantized multiply-adds they
 * return to float, plus this floor: a node that keeps no weighted op float is not free (its
 * float kernels cost too), and gains are compared in proportion. On PP-OCRv4 rec the order by
 * gain alone put 8 nodes in float that took 41% of the int8 FLOPs with them (three 55-110
 * MFLOP convs), for 0.989 held out.
 */
const FLOPS_FLOOR = 0.01

/** What returning one node to float through skip_quant_node changes in a FULL_QUANT plan. */
export interface SkipEffect {
  /** Activation tensors that lose their Q/DQ pair. */
  tensors: string[]
  /** Nodes that stop running on int8 data (the node itself, and those reading or writing those tensors). */
  nodes: string[]
  /** Conv/Gemm/MatMul multiply-adds (with a constant weight) that run float instead. */
  flops: number
}

/** Ranks FULL_QUANT nodes by what rounding them costs the model's output. */
export interface OutputCostRanker {
  /** Multiply-adds of every Conv/Gemm/MatMul the plain quantization runs on int8 weights. */
  readonly quantizedFlops: number
  /**
   * Nodes that gain output cosine (vs fp32, mean over the ranking samples) by also returning to
   * float, with the `exclude` nodes float and everything else as quantized; ordered by that gain
   * per share of int8 multiply-adds they return to float (see FLOPS_FLOOR).
   */
  rank(exclude: readonly string[]): Promise<RankedNode[]>
  /** Runs of the gated model so far. */
  runs(): number
  release(): Promise<void>
}

export interface OutputCostOptions {
  /**
   * After the first ranking, re-measure only the nodes that gained, and those that lost less
   * than this (output cosine). @default Infinity (re-measure every node)
   */
  rescreenBelow?: number
}

/**
 * Output-cost ranking for FULL_QUANT. Measured on PP-OCRv4 rec, a node's own error (input
 * cosine minus output cosine) does not predict what its rounding costs the output: a late node
 * with a large own error can cost nothing, and early conv outputs cost the most. So the cost is
 * measured on the output itself, in one onnxruntime session of the float model with every
 * planned activation, weight and bias gated between float and the values the quantized model
 * computes with (src/quant/full/gated-rounding.ts): everything rounded except the node's
 * skip_quant_node effect (its tensors, and the weights of the nodes that go float with them),
 * against everything rounded. Rounding errors interact (some cancel), so the cost of a node is
 * measured with the rest rounded, not alone.
 *
 * The skip effect of each node is exact: the QDQ planner runs with the node added to
 * skip_quant_node (skipping one node keeps its input and output tensors float, and with them
 * every quantized node that reads or writes them). `rescreenBelow` limits later rankings to the
 * nodes that did not clearly hurt in the one before.
 */
export async function outputCostRanker(reference: Uint8Array, quantized: Uint8Array, full: FullQuantReport, cfg: QuantConfig, samples: Feeds[], options: OutputCostOptions = {}): Promise<OutputCostRanker> {
  const rescreenBelow = options.rescreenBelow ?? Infinity
  // the float model as FULL_QUANT plans it: folded and lifted, so that tensor and node names match
  const model = decodeModelProto(reference)
  foldForInt8(model)
  const settings = fullQuantSettings(cfg)
  const prepared = prepareQdq(model, settings)
  const floatBytes = encodeModelProto(model)
  const base = prepared.plan
  const reported = new Set(full.activations.map((a) => a.tensor))
  if (base.tensors.size !== reported.size || [...base.tensors.keys()].some((t) => !reported.has(t))) {
    // the mode planned differently (a cfg option this ranking does not model): rank another way
    throw new Error(`the guard's plan of the float model has ${base.tensors.size} quantized activations where the quantization reported ${reported.size}`)
  }
  const baseNodes = new Set(base.quantized.map((q) => q.node.name ?? ''))
  const flops = await weightedFlops(floatBytes, base, prepared.index.constants, samples[0]!)
  const quantizedFlops = [...flops.values()].reduce((a, b) => a + b, 0)

  const effects = new Map<string, SkipEffect>()
  const effectOf = (node: string): SkipEffect => {
    let e = effects.get(node)
    if (!e) {
      const plan = planQdq(prepared.index, { ...settings, skipQuantNode: new Set([...settings.skipQuantNode, node]) })
      const still = new Set(plan.quantized.map((q) => q.node.name ?? ''))
      const lost = [...baseNodes].filter((n) => !still.has(n))
      e = { tensors: [...base.tensors.keys()].filter((t) => !plan.tensors.has(t)), nodes: lost, flops: lost.reduce((s, n) => s + (flops.get(n) ?? 0), 0) }
      effects.set(node, e)
    }
    return e
  }
  // one candidate per distinct effect: the quantized node itself when it is one of those with it
  const candidates = new Map<string, NodeProto>()
  for (const node of prepared.index.order) {
    const name = node.name ?? ''
    if (!name || name.includes(',') || node.domain || settings.skipQuantNode.has(name)) continue
    const e = effectOf(name)
    if (e.tensors.length === 0 && e.nodes.length === 0) continue
    const key = `${e.tensors.join('\n')}\n\n${e.nodes.join('\n')}`
    const held = candidates.get(key)
    if (!held || (!baseNodes.has(held.name ?? '') && baseNodes.has(name))) candidates.set(key, node)
  }

  const params = new Map(full.activations.map((a) => [a.tensor, { scale: a.scale, zeroPoint: a.zeroPoint }]))
  const tensors = [...base.tensors.keys()]
  const constants = roundedConstants(decodeModelProto(floatBytes), decodeModelProto(quantized))
  // a constant goes float with the quantized node that reads it (a weight, a bias) or that feeds
  // its reader (the corrected Add constant after a MatMul)
  const byName = new Map(prepared.index.order.map((n) => [n.name ?? '', n]))
  const owners = constants.map((c) => {
    if (baseNodes.has(c.node)) return c.node
    for (const i of byName.get(c.node)?.input ?? []) {
      const p = prepared.index.producer.get(i)?.name
      if (p && baseNodes.has(p)) return p
    }
    return null
  })
  const lostFlops = (nodes: Iterable<string>): number => {
    const lost = new Set<string>()
    for (const n of nodes) for (const l of effectOf(n).nodes) lost.add(l)
    let sum = 0
    for (const l of lost) sum += flops.get(l) ?? 0
    return sum
  }
  const gateOf = new Map(tensors.map((t, i) => [t, i]))
  const gatesOff = (nodes: Iterable<string>): Set<number> => {
    const off = new Set<number>()
    const lost = new Set<string>()
    for (const n of nodes) {
      const e = effectOf(n)
      for (const t of e.tensors) off.add(gateOf.get(t)!)
      for (const l of e.nodes) lost.add(l)
    }
    owners.forEach((o, k) => { if (o && lost.has(o)) off.add(tensors.length + k) })
    return off
  }

  const activationType = full.profile.activations === 'int8' ? DataType.INT8 : DataType.UINT8
  const { bytes, gates } = gatedModel(floatBytes, tensors, params, activationType, constants)
  const session = await ort.InferenceSession.create(bytes, { ...ONE_THREAD_SESSION, logSeverityLevel: 3 })
  let runs = 0
  let fetch: string[] = []
  const run = async (off: ReadonlySet<number>, feeds: Feeds): Promise<ArrayLike<number>[]> => {
    const all: Feeds = { ...feeds }
    gates.forEach((g, i) => { all[g] = new ort.Tensor('float32', Float32Array.of(off.has(i) ? 0 : 1), []) })
    runs++
    const out = await session.run(all, fetch)
    return fetch.map((n) => numericData(out[n]!))
  }
  // every gate off: the float model's outputs
  const allOff = new Set(gates.map((_, i) => i))
  let floatOutputs: ArrayLike<number>[][]
  try {
    fetch = tensorOutputs(session)
    floatOutputs = await Promise.all(samples.map((s) => run(allOff, s)))
  } catch (err) {
    await session.release()
    throw err
  }
  /** Minimum over outputs of the cosine vs float on the samples, as the guard measures it (compareModels). */
  const cosine = async (off: ReadonlySet<number>): Promise<number> => {
    const cosines = new OutputCosines()
    for (const [k, s] of samples.entries()) {
      const got = await run(off, s)
      got.forEach((o, j) => cosines.add(fetch[j]!, floatOutputs[k]![j]!, o))
    }
    return cosines.least()
  }

  let promising: Set<string> | null = null
  return {
    quantizedFlops,
    runs: () => runs,
    release: () => session.release(),
    async rank(exclude) {
      const excluded = new Set(exclude)
      const off = gatesOff(excluded)
      const now = await cosine(off)
      const floatBefore = lostFlops(excluded)
      const ranked: (RankedNode & { score: number })[] = []
      const gained = new Set<string>()
      for (const node of candidates.values()) {
        const name = node.name!
        if (excluded.has(name) || (promising && !promising.has(name))) continue
        const more = gatesOff([...excluded, name])
        if (more.size === off.size) continue // already float with the excluded nodes
        const gain = (await cosine(more)) - now
        if (gain > -rescreenBelow) gained.add(name)
        if (!(gain > 0)) continue
        const e = effectOf(name)
        const share = quantizedFlops > 0 ? (lostFlops([...excluded, name]) - floatBefore) / quantizedFlops : 0
        ranked.push({ node: name, opType: node.op_type ?? '', by: 'output-cost', cost: gain, floatFlops: e.flops, alsoFloat: e.nodes.filter((n) => n !== name), score: gain / (share + FLOPS_FLOOR) })
      }
      promising = gained
      return ranked.sort((a, b) => b.score - a.score).map(({ score: _, ...r }) => r)
    },
  }
}

/** Multiply-adds of each weighted node the plan quantizes: output elements times the reduction length (one float run for the shapes). */
async function weightedFlops(floatBytes: Uint8Array, plan: QdqPlan, constants: ReadonlyMap<string, ConstantDef>, sample: Feeds): Promise<Map<string, number>> {
  const weighted = plan.quantized.filter((q) => q.kind === 'weighted')
  const runner = await ExposedRunner.create(floatBytes, weighted.map((q) => q.node.output![0]!))
  let values
  try {
    values = await runner.run(sample)
  } finally {
    await runner.release()
  }
  const out = new Map<string, number>()
  for (const q of weighted) {
    const y = values.get(q.node.output![0]!)
    const w = constants.get(q.weight!)
    if (!y || !w) continue
    const dims = tensorDims(w.tensor)
    const reduction = q.node.op_type === 'Conv' ? dims.slice(1).reduce((a, b) => a * b, 1) : q.node.op_type === 'Gemm' ? dims[q.channelAxis === 0 ? 1 : 0]! : dims[0]!
    out.set(q.node.name ?? '', y.dims.reduce((a, b) => a * b, 1) * reduction)
  }
  return out
}

import ort from 'onnxruntime-node'
import { encodeModelProto } from '../onnx/codec.js'
import { NameAllocator, opsetVersion } from '../onnx/graph-walk.js'
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx/onnx-types.js'
import { makeTensor } from '../onnx/tensor-data.js'
import type { Feeds } from '../runtime/feeds.js'
import { ONE_THREAD_SESSION } from '../runtime/session-options.js'

/**
 * Copies of a model with calibration probes added to its main graph: extra outputs, and small
 * subgraphs (shapes, reductions, strided views) whose results onnxruntime returns instead of
 * whole tensors. The original model is never modified.
 */

/** Tensor names the main graph defines (inputs, initializers, node outputs) or reads. */
export function mainGraphTensors(model: ModelProto): Set<string> {
  const graph = model.graph
  const out = new Set<string>()
  for (const v of graph?.input ?? []) if (v.name) out.add(v.name)
  for (const t of graph?.initializer ?? []) if (t.name) out.add(t.name)
  for (const n of graph?.node ?? []) for (const o of n.output ?? []) if (o) out.add(o)
  return out
}

/**
 * The graph's nodes followed by the probes, those reading the latest-computed tensors first.
 * onnxruntime orders execution by a depth-first walk back from the leaf nodes, taking the leaf
 * last in the node list first: that way each probe runs as soon as its tensor exists and the
 * tensor can be freed. Probes in graph order would all run after the whole network, keeping
 * every probed tensor alive (det at 640x640: 850 MB and 4x slower instead of 200 MB).
 */
export function orderProbes(nodes: readonly NodeProto[], probes: readonly NodeProto[]): NodeProto[] {
  const producer = new Map<string, number>()
  nodes.forEach((n, k) => { for (const o of n.output ?? []) if (o) producer.set(o, k) })
  // a probe chain (Reshape -> Slice, Size -> ... -> TopK) reads its own outputs: follow them back
  const probeOut = new Map<string, NodeProto>()
  for (const p of probes) for (const o of p.output ?? []) probeOut.set(o, p)
  const anchors = new Map<NodeProto, number>()
  const anchorOf = (p: NodeProto, depth = 0): number => {
    const known = anchors.get(p)
    if (known !== undefined) return known
    let at = -1
    for (const i of p.input ?? []) {
      const k = producer.get(i)
      if (k !== undefined) at = Math.max(at, k)
      else if (depth < 64 && probeOut.has(i)) at = Math.max(at, anchorOf(probeOut.get(i)!, depth + 1))
    }
    anchors.set(p, at)
    return at
  }
  const sorted = probes.map((p, k) => ({ p, k, at: anchorOf(p) })).sort((a, b) => b.at - a.at || a.k - b.k)
  return [...nodes, ...sorted.map((s) => s.p)]
}

/** Probe nodes and the constants they read, gathered for `withProbes`. */
export interface ProbeNodes {
  nodes: NodeProto[]
  inits: TensorProto[]
}

/**
 * The model with probe `nodes` (reading its tensors), the constants they take (`inits`) and the
 * `outputs` they expose, each probe placed to run as soon as its input exists (orderProbes).
 */
export function withProbes(model: ModelProto, nodes: NodeProto[], inits: TensorProto[], outputs: string[]): ModelProto {
  const graph = model.graph ?? {}
  const existing = new Set((graph.output ?? []).map((o) => o.name))
  const added = [...new Set(outputs)].filter((o) => !existing.has(o)).map((name) => ({ name }))
  return {
    ...model,
    graph: {
      ...graph,
      node: orderProbes(graph.node ?? [], nodes),
      initializer: [...(graph.initializer ?? []), ...inits],
      // onnxruntime infers the type of an output declared by name only
      output: [...added, ...(graph.output ?? [])],
    },
  }
}

/**
 * Run `model` with the probes added (withProbes) in one single-thread session, once per sample,
 * handing each run's `fetch` outputs to `each`; the session is released however it ends.
 */
export async function runProbes(model: ModelProto, probes: { nodes: NodeProto[]; inits: TensorProto[] }, fetch: string[], samples: readonly Feeds[], each: (out: ort.InferenceSession.OnnxValueMapType) => void): Promise<void> {
  const session = await ort.InferenceSession.create(encodeModelProto(withProbes(model, probes.nodes, probes.inits, fetch)), ONE_THREAD_SESSION)
  try {
    for (const feeds of samples) each(await session.run(feeds, fetch))
  } finally {
    await session.release()
  }
}

/** The model with `names` as extra graph outputs. */
export function withOutputs(model: ModelProto, names: readonly string[]): ModelProto {
  return withProbes(model, [], [], [...names])
}

/** The model with a Shape output per tensor; returns the output name of each tensor's shape. */
export function withShapeProbes(model: ModelProto, names: readonly string[]): { model: ModelProto; outputs: Map<string, string> } {
  const namer = NameAllocator.forModel(model)
  const nodes: NodeProto[] = []
  const outputs = new Map<string, string>()
  for (const name of names) {
    const out = namer.take(`${name}__calib_shape`)
    nodes.push({ op_type: 'Shape', name: namer.take(`${name}__calib_shape_node`), input: [name], output: [out] })
    outputs.set(name, out)
  }
  return { model: withProbes(model, nodes, [], [...outputs.values()]), outputs }
}

/**
 * The model with ReduceMin and ReduceMax over all axes of each tensor as scalar outputs, so a
 * run returns two numbers per tensor rather than the tensor (no axes: every axis, in every opset).
 * With `shapes`, a Shape output per tensor too (`shapes` maps each tensor to it). Probes must be
 * added in one call: a second call would order its probes after the first call's, and
 * onnxruntime would then keep tensors alive until the end (KL on det's 331 tensors: 1.6 GB
 * instead of 0.5 GB).
 */
export function withMinMaxProbes(model: ModelProto, names: readonly string[], options: { shapes?: boolean } = {}): { model: ModelProto; outputs: Map<string, [string, string]>; shapes: Map<string, string> } {
  const namer = NameAllocator.forModel(model)
  const nodes: NodeProto[] = []
  const outputs = new Map<string, [string, string]>()
  const shapes = new Map<string, string>()
  const keepdims = { name: 'keepdims', type: 2, i: 0 }
  for (const name of names) {
    const lo = namer.take(`${name}__calib_min`)
    const hi = namer.take(`${name}__calib_max`)
    nodes.push({ op_type: 'ReduceMin', name: namer.take(`${name}__calib_min_node`), input: [name], output: [lo], attribute: [keepdims] })
    nodes.push({ op_type: 'ReduceMax', name: namer.take(`${name}__calib_max_node`), input: [name], output: [hi], attribute: [keepdims] })
    outputs.set(name, [lo, hi])
    if (options.shapes) {
      const shape = namer.take(`${name}__calib_shape`)
      nodes.push({ op_type: 'Shape', name: namer.take(`${name}__calib_shape_node`), input: [name], output: [shape] })
      shapes.set(name, shape)
    }
  }
  return { model: withProbes(model, nodes, [], [...[...outputs.values()].flat(), ...shapes.values()]), outputs, shapes }
}

/**
 * The model with every `stride`-th element of each listed tensor (flattened) as an output,
 * so onnxruntime copies out a sample of a huge tensor rather than all of it. Needs Slice with
 * steps (opset 10); below that the whole tensors are exposed. With `shapes`, a Shape output
 * per tensor too (`shapes` maps each tensor to it; empty below opset 10, where the tensors
 * themselves carry their shapes).
 */
export function withStridedProbes(model: ModelProto, strides: ReadonlyMap<string, number>, options: { shapes?: boolean } = {}): { model: ModelProto; outputs: Map<string, string>; shapes: Map<string, string> } {
  const outputs = new Map<string, string>()
  const shapes = new Map<string, string>()
  if (opsetVersion(model) < 10) {
    for (const name of strides.keys()) outputs.set(name, name)
    return { model: withOutputs(model, [...strides.keys()]), outputs, shapes }
  }
  const namer = NameAllocator.forModel(model)
  const nodes: NodeProto[] = []
  const inits: TensorProto[] = []
  const i64 = (name: string, values: number[]): string => {
    const n = namer.take(name)
    inits.push(makeTensor(n, DataType.INT64, [values.length], BigInt64Array.from(values.map(BigInt))))
    return n
  }
  const flat = i64('calib_flat_shape', [-1])
  const zero = i64('calib_zero', [0])
  const end = i64('calib_end', [Number.MAX_SAFE_INTEGER])
  const steps = new Map<number, string>()
  for (const [name, s] of strides) {
    // every tensor goes through a probe, even at stride 1: an intermediate tensor made a graph
    // output changes onnxruntime's execution order and keeps other tensors alive (det: 1.3 GB)
    const stride = Math.max(1, Math.floor(s))
    if (!steps.has(stride)) steps.set(stride, i64(`calib_step_${stride}`, [stride]))
    const flatOut = namer.take(`${name}__calib_flat`)
    const out = namer.take(`${name}__calib_strided`)
    nodes.push({ op_type: 'Reshape', name: namer.take(`${name}__calib_flat_node`), input: [name, flat], output: [flatOut] })
    nodes.push({ op_type: 'Slice', name: namer.take(`${name}__calib_strided_node`), input: [flatOut, zero, end, zero, steps.get(stride)!], output: [out] })
    outputs.set(name, out)
    if (options.shapes) {
      const shape = namer.take(`${name}__calib_shape`)
      nodes.push({ op_type: 'Shape', name: namer.take(`${name}__calib_shape_node`), input: [name], output: [shape] })
      shapes.set(name, shape)
    }
  }
  return { model: withProbes(model, nodes, inits, [...outputs.values(), ...shapes.values()]), outputs, shapes }
}

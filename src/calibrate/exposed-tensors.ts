import ort from 'onnxruntime-node'
import { decodeModelProto, encodeModelProto } from '../onnx/codec.js'
import type { ModelProto } from '../onnx/onnx-types.js'
import type { Feeds } from '../runtime/feeds.js'
import { prefetch, type CalibrationSet } from './calibration-set.js'
import { mainGraphTensors, withOutputs, withShapeProbes, withStridedProbes } from './graph-probes.js'
import { elementCountOf, tensorFloats } from './ort-values.js'

/** @default 256 MiB: what one run may copy out of onnxruntime at once. */
export const DEFAULT_MAX_BYTES_PER_RUN = 256 * 1024 * 1024

export type VisitTensor = (name: string, data: Float32Array, dims: readonly number[], sample: number) => void

export interface ExposeOptions {
  /** Which samples of the set to run, in order. @default every sample */
  sampleIndices?: number[]
  /** Exposed bytes per run; tensors are split into groups under it (one tensor alone may exceed it). @default 256 MiB */
  maxBytesPerRun?: number
}

/**
 * Run the float model with the chosen intermediate tensors exposed as outputs, and hand each to
 * `visit` as float32, sample after sample. Tensors are split into groups whose float bytes
 * (measured on the first sample) stay under `maxBytesPerRun`, each group its own session, so
 * memory is bounded by one group's outputs, never by all tensors of all samples. Graph inputs
 * among `tensors` are visited with the feed values. Each sample is read once.
 */
export async function forEachExposedTensor(model: Uint8Array, tensors: string[], set: CalibrationSet, visit: VisitTensor, options: ExposeOptions = {}): Promise<void> {
  await exposeTensors(model, tensors, set, visit, { ...options, stride: () => 1 })
}

export interface StridedExposeOptions extends ExposeOptions {
  /**
   * How many elements apart the values handed to `visit` are, given the tensor's element count
   * on the first sample (1: all). Striding happens inside the graph, so only the kept values
   * are copied out; in a group with any strided tensor `visit` gets flat values, dims [length].
   */
  stride: (name: string, elements: number) => number
  /** Element counts of the tensors on the first sample, when an earlier run already measured them (saves a run). @default measured by a shape run */
  elements?: ReadonlyMap<string, number>
  /** Hand `visit` each tensor's own shape on each sample, strided or not (Shape nodes in the probe). @default false: [length] for strided groups */
  shapes?: boolean
}

/** `forEachExposedTensor` with in-graph strided subsampling of large tensors. */
export async function exposeTensors(modelBytes: Uint8Array, tensors: string[], set: CalibrationSet, visit: VisitTensor, options: StridedExposeOptions): Promise<void> {
  const indices = options.sampleIndices ?? Array.from({ length: set.count }, (_, i) => i)
  if (indices.length === 0 || tensors.length === 0) return
  const model = decodeModelProto(modelBytes)
  const graphInputs = new Set((model.graph?.input ?? []).map((i) => i.name ?? ''))
  const known = mainGraphTensors(model)
  const unknown = tensors.filter((t) => !known.has(t))
  if (unknown.length) throw new Error(`tensors not in the model's main graph: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ', …' : ''}`)
  const fromFeeds = [...new Set(tensors.filter((t) => graphInputs.has(t)))]
  const inner = [...new Set(tensors.filter((t) => !graphInputs.has(t)))]
  const maxBytes = options.maxBytesPerRun ?? DEFAULT_MAX_BYTES_PER_RUN

  const first = await set.sample(indices[0]!)
  const given = options.elements
  const elements = !inner.length ? new Map<string, number>() : given && inner.every((t) => given.has(t)) ? given : await elementCounts(model, inner, first)
  const strides = new Map(inner.map((t) => [t, Math.max(1, Math.floor(options.stride(t, elements.get(t) ?? 0)))]))
  const groups = groupBySize(inner, (t) => (4 * (elements.get(t) ?? 0)) / strides.get(t)!, maxBytes)

  const sessions: { session: ort.InferenceSession; outputs: Map<string, string>; shapes: Map<string, string>; strided: boolean }[] = []
  try {
    for (const group of groups) {
      const strided = group.some((t) => strides.get(t)! > 1)
      const probe = strided ? withStridedProbes(model, new Map(group.map((t) => [t, strides.get(t)!])), { shapes: options.shapes }) : { model: withOutputs(model, group), outputs: new Map(group.map((t) => [t, t])), shapes: new Map<string, string>() }
      // With several groups, no arena: each group's outputs are freed after its run instead of
      // staying reserved per session for the whole calibration. One session keeps the arena, as
      // an ordinary inference does: without it every run allocates and frees each feature map
      // anew (det 640x640 with KL's strided probes: 5% to 30% slower, interleaved runs).
      const session = await ort.InferenceSession.create(encodeModelProto(probe.model), { enableCpuMemArena: groups.length === 1 })
      sessions.push({ session, outputs: probe.outputs, shapes: probe.shapes, strided })
    }
    let next: Promise<Feeds> = Promise.resolve(first)
    for (let k = 0; k < indices.length; k++) {
      const sample = indices[k]!
      const feeds = await next
      // the next sample is read and preprocessed while onnxruntime runs this one
      if (k + 1 < indices.length) next = prefetch(set, indices[k + 1]!)
      for (const name of fromFeeds) {
        const t = feeds[name]
        if (t) visit(name, tensorFloats(t), t.dims, sample)
      }
      for (const { session, outputs, shapes, strided } of sessions) {
        const result = await session.run(feeds, [...new Set([...outputs.values(), ...shapes.values()])])
        for (const [name, out] of outputs) {
          const t = result[out]
          if (!t) continue
          const shape = shapes.get(name)
          const dims = shape ? Array.from(result[shape]!.data as BigInt64Array, Number) : strided && out !== name ? [t.size] : t.dims
          visit(name, tensorFloats(t), dims, sample)
        }
      }
    }
  } finally {
    for (const { session } of sessions) await session.release()
  }
}

/** Each tensor's element count on one sample, from a run that returns only their shapes. */
export async function elementCounts(model: ModelProto, tensors: string[], feeds: Feeds, options: ort.InferenceSession.SessionOptions = {}): Promise<Map<string, number>> {
  const probe = withShapeProbes(model, tensors)
  const session = await ort.InferenceSession.create(encodeModelProto(probe.model), options)
  try {
    const result = await session.run(feeds, [...probe.outputs.values()])
    const counts = new Map<string, number>()
    for (const [name, out] of probe.outputs) counts.set(name, elementCountOf(result[out]!))
    return counts
  } finally {
    await session.release()
  }
}

/** Consecutive groups whose summed bytes stay under `maxBytes` (a tensor above it alone). */
export function groupBySize(names: string[], bytes: (name: string) => number, maxBytes: number): string[][] {
  const groups: string[][] = []
  let current: string[] = []
  let size = 0
  for (const name of names) {
    const b = bytes(name)
    if (current.length && size + b > maxBytes) {
      groups.push(current)
      current = []
      size = 0
    }
    current.push(name)
    size += b
  }
  if (current.length) groups.push(current)
  return groups
}

import { decodeModelProto } from '../../onnx/codec.js'
import { opsetVersion, NameAllocator } from '../../onnx/graph-walk.js'
import { elementCounts } from '../../calibrate/exposed-tensors.js'
import { runProbes, type ProbeNodes } from '../../calibrate/graph-probes.js'
import { AttributeType, DataType, type ModelProto, type NodeProto } from '../../onnx/onnx-types.js'
import { makeTensor } from '../../onnx/tensor-data.js'
import type { Feeds } from '../../runtime/feeds.js'
import { ONE_THREAD_SESSION } from '../../runtime/session-options.js'

/**
 * An activation whose channel second moments are wanted: channels on axis 1 of a `rank`-dim
 * tensor (Conv input) or on the last axis (MatMul / Gemm rows).
 */
export type MomentRequest =
  | { tensor: string; channels: number; layout: 'channelsFirst'; rank: number }
  | { tensor: string; channels: number; layout: 'channelsLast' }

/** The key `inputMoments` files a request's moments under: one tensor may be read as two layouts. */
export function momentKey(r: MomentRequest): string {
  return `${r.layout}:${r.channels}:${r.tensor}`
}

/** Second moments of one activation's channel vectors. */
export interface Moments {
  /** sum x x^T, row-major C x C */
  h: Float64Array
  channels: number
  /** vectors summed */
  count: number
}

/**
 * Uncentered second moments H = sum x x^T of each requested activation of the float model over
 * `samples`, where x is the channel vector at one position (Conv: every batch item and spatial
 * position; MatMul: every row), keyed by `momentKey`. Each H is a MatMul inside the graph, the
 * activation (cast to float32, as float16 sums would overflow) as a C x P matrix times its
 * transpose, exposed with the activation's Shape; the samples' matrices are summed in float64
 * here. Computing them in JavaScript from exposed activations took a third of PP-OCRv4 rec's
 * 6-bit quantization (7 of 22 s). The requests come from the ops that read the activations, so
 * their shapes fit in any valid model; one whose shape still does not match is left out when
 * the reshape runs at all, and otherwise fails the run (the caller then skips error feedback
 * with a warning). Before opset 5 (Reshape without a shape input) nothing is measured. With
 * `options.minVectorsPerChannel`, wide inputs are first counted (see MomentOptions).
 */
export async function inputMoments(original: Uint8Array, requests: readonly MomentRequest[], samples: readonly Feeds[], options: MomentOptions = {}): Promise<Map<string, Moments>> {
  const results = new Map<string, Moments>()
  if (requests.length === 0 || samples.length === 0) return results
  const copy = decodeModelProto(original)
  if (opsetVersion(copy) < 5) return results
  const wanted = await fillable(copy, requests, samples, options.minVectorsPerChannel ?? 0)
  if (wanted.length === 0) return results
  const names = NameAllocator.forModel(copy)
  const nodes: ProbeNodes = { nodes: [], inits: [] }
  const probes = new Map<string, { request: MomentRequest; gram: string; shape: string }>()
  for (const r of wanted) if (!probes.has(momentKey(r))) probes.set(momentKey(r), { request: r, ...addGram(nodes, names, r) })
  const fetch = [...probes.values()].flatMap((p) => [p.gram, p.shape])
  const bad = new Set<string>()
  await runProbes(copy, nodes, fetch, samples, (out) => {
    for (const [key, { request: r, gram, shape }] of probes) {
      const c = r.channels
      const dims = Array.from(out[shape]!.data as BigInt64Array, Number)
      const g = out[gram]!.data
      const fits = (r.layout === 'channelsFirst' ? dims.length === r.rank && dims[1] === c : dims.at(-1) === c) && g instanceof Float32Array && g.length === c * c
      if (!fits) { bad.add(key); continue }
      let m = results.get(key)
      if (!m) results.set(key, (m = { h: new Float64Array(c * c), channels: c, count: 0 }))
      for (let i = 0; i < c * c; i++) m.h[i] += g[i]!
      m.count += dims.reduce((a, b) => a * b, 1) / c
    }
  })
  for (const name of bad) results.delete(name)
  return results
}

export interface MomentOptions {
  /**
   * Requests of LARGE_GRAM_CHANNELS channels or more whose samples cannot sum this many vectors
   * per channel are not measured. The count is the first sample's times the number of samples:
   * samples smaller than the first can leave out a request the whole set would have filled.
   * @default 0
   */
  minVectorsPerChannel?: number
}

/**
 * Channels from which a Gram matrix (C x C, float32 from each run, summed in float64) is large
 * enough to count the vectors before measuring it: an openWakeWord head's 2400-wide Gemm input,
 * one row a sample, took 23 MB from each run into a 46 MB sum, and 0.7 of a 1.0 s quantization,
 * for moments error feedback could not use.
 */
const LARGE_GRAM_CHANNELS = 512

/** `requests` less the large ones that `samples` cannot fill: one Shape probe run on the first sample. */
async function fillable(model: ModelProto, requests: readonly MomentRequest[], samples: readonly Feeds[], minVectorsPerChannel: number): Promise<MomentRequest[]> {
  const large = requests.filter((r) => r.channels >= LARGE_GRAM_CHANNELS)
  if (minVectorsPerChannel <= 0 || large.length === 0) return [...requests]
  const elements = await elementCounts(model, [...new Set(large.map((r) => r.tensor))], samples[0]!, ONE_THREAD_SESSION)
  const short = new Set(large.filter((r) => ((elements.get(r.tensor) ?? 0) / r.channels) * samples.length < minVectorsPerChannel * r.channels))
  return requests.filter((r) => !short.has(r))
}

/** Adds the probes of `x`'s C x C channel Gram matrix and of its shape; returns their outputs. */
function addGram(probes: ProbeNodes, names: NameAllocator, r: MomentRequest): { gram: string; shape: string } {
  const x = r.tensor
  const add = (op: string, input: string[], attribute: NodeProto['attribute'] = []): string => {
    const out = names.take(`${x}_moments_${op.toLowerCase()}`)
    probes.nodes.push({ name: names.take(`${out}_node`), op_type: op, input, output: [out], attribute })
    return out
  }
  const perm = (p: number[]) => [{ name: 'perm', type: AttributeType.INTS, ints: p }]
  const shapeConst = names.take(`${x}_moments_matrix_shape`)
  const float = add('Cast', [x], [{ name: 'to', type: AttributeType.INT, i: DataType.FLOAT }])
  let gram: string
  if (r.layout === 'channelsFirst') {
    // [N, C, ...] -> [C, N, ...] -> [C, P]; H = A A^T
    probes.inits.push(makeTensor(shapeConst, DataType.INT64, [2], BigInt64Array.from([BigInt(r.channels), -1n])))
    const channelsFirst = add('Transpose', [float], perm([1, 0, ...Array.from({ length: r.rank - 2 }, (_, i) => i + 2)]))
    const a = add('Reshape', [channelsFirst, shapeConst])
    gram = add('MatMul', [a, add('Transpose', [a], perm([1, 0]))])
  } else {
    // [..., C] -> [P, C]; H = A^T A
    probes.inits.push(makeTensor(shapeConst, DataType.INT64, [2], BigInt64Array.from([-1n, BigInt(r.channels)])))
    const a = add('Reshape', [float, shapeConst])
    gram = add('MatMul', [add('Transpose', [a], perm([1, 0])), a])
  }
  return { gram, shape: add('Shape', [x]) }
}

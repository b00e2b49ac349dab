import ort from 'onnxruntime-node'
import { DataType, int64ToNumber, type ModelProto, type ValueInfoProto } from '../onnx/onnx-types.js'

export type Feeds = Record<string, ort.Tensor>

export interface InputSpec {
  name: string
  elemType: number
  /** Fixed dims as numbers, symbolic or unknown dims as null. */
  dims: (number | null)[]
  /** The symbolic name of each dim ('' when fixed or unnamed). */
  params: string[]
}

/** The graph inputs a caller must feed (initializers listed as inputs are not). */
export function inputSpecs(model: ModelProto): InputSpec[] {
  const graph = model.graph
  const inits = new Set((graph?.initializer ?? []).map((t) => t.name))
  return (graph?.input ?? []).filter((i) => !inits.has(i.name)).map(specOf)
}

function specOf(v: ValueInfoProto): InputSpec {
  const tt = v.type?.tensor_type
  const dims = (tt?.shape?.dim ?? []).map((d) => (d.value === 'dim_value' || (d.dim_value !== undefined && Object.prototype.hasOwnProperty.call(d, 'dim_value')) ? int64ToNumber(d.dim_value) : null))
  const params = (tt?.shape?.dim ?? []).map((d) => (d.value === 'dim_param' ? d.dim_param ?? '' : ''))
  return { name: v.name ?? '', elemType: tt?.elem_type ?? DataType.FLOAT, dims, params }
}

/** A small deterministic PRNG (mulberry32) so generated inputs are the same on every run. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const TYPE_NAMES: Partial<Record<number, ort.Tensor.Type>> = {
  [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.INT64]: 'int64', [DataType.INT32]: 'int32',
  [DataType.INT8]: 'int8', [DataType.UINT8]: 'uint8', [DataType.BOOL]: 'bool', [DataType.FLOAT16]: 'float16',
  [DataType.INT16]: 'int16', [DataType.UINT16]: 'uint16',
}

/**
 * Inputs that fit the model's declared shapes and types, for comparing a float model with its
 * quantized copy when the user gave no calibration data. Symbolic dims: a leading (batch) dim
 * takes 1, the time axis of a rank-2 [batch, time] input 512 (an audio frame: silero VAD pads by
 * more than 32), spatial dims 64 (a multiple of the 32x down-sampling of detector backbones).
 * Floats are uniform in [-1, 1), integers small and non-negative.
 */
export function generatedFeeds(specs: InputSpec[], seed: number): Feeds {
  const rand = seededRandom(seed)
  const feeds: Feeds = {}
  // A named dim means the same size wherever it appears (silero's state is [2, batch, 128]).
  const batchParams = new Set(specs.filter((s) => s.dims.length > 1 && s.params[0]).map((s) => s.params[0]!))
  for (const spec of specs) {
    const rank = spec.dims.length
    const dims = spec.dims.map((d, i) => (d !== null && d > 0 ? d
      : (i === 0 && rank > 1) || batchParams.has(spec.params[i] ?? '') ? 1 : rank === 2 ? 512 : 64))
    const n = dims.reduce((a, b) => a * b, 1)
    const type = TYPE_NAMES[spec.elemType]
    if (!type) throw new Error(`input '${spec.name}' has element type ${DataType[spec.elemType] ?? spec.elemType}, which generated inputs do not cover`)
    let data: ort.Tensor.DataType
    switch (type) {
      case 'float32': data = Float32Array.from({ length: n }, () => rand() * 2 - 1); break
      case 'float64': data = Float64Array.from({ length: n }, () => rand() * 2 - 1); break
      case 'int64': data = BigInt64Array.from({ length: n }, () => BigInt(Math.floor(rand() * 8))); break
      case 'int32': data = Int32Array.from({ length: n }, () => Math.floor(rand() * 8)); break
      case 'bool': data = Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0)); break
      default: data = Uint8Array.from({ length: n }, () => Math.floor(rand() * 8))
    }
    feeds[spec.name] = new ort.Tensor(type, data, dims)
  }
  return feeds
}

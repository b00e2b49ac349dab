import ort from 'onnxruntime-node'
import { DataType, int64ToNumber, type GraphProto, type ModelProto, type ValueInfoProto } from '../onnx/onnx-types.js'
import { floatToHalf } from '../onnx/float16.js'
import { ORT_TYPES } from '../calibrate/input-layout.js'
import { naturalInput } from './natural-inputs.js'
import { seededRandom } from './seeded-random.js'

export type Feeds = Record<string, ort.Tensor>

/** Values in one sample, over all its inputs. */
export function sampleElements(feeds: Feeds): number {
  let n = 0
  for (const t of Object.values(feeds)) n += t.size
  return n
}

export interface InputSpec {
  name: string
  elemType: number
  /** Fixed dims as numbers, symbolic or unknown dims as null. */
  dims: (number | null)[]
  /** The symbolic name of each dim ('' when fixed or unnamed). */
  params: string[]
  /**
   * For an integer input that indexes a Gather: the size of the smallest gathered axis, which
   * generated values must stay below.
   */
  indexBound?: number
}

/** The graph inputs a caller must feed (initializers listed as inputs are not). */
export function inputSpecs(model: ModelProto): InputSpec[] {
  const graph = model.graph
  const inits = new Set((graph?.initializer ?? []).map((t) => t.name))
  const fed = (graph?.input ?? []).filter((i) => !inits.has(i.name)).map(specOf)
  const bounds = graph ? gatherBounds(graph, new Set(fed.map((spec) => spec.name))) : new Map<string, number>()
  return fed.map((spec) => {
    const bound = bounds.get(spec.name)
    return bound === undefined ? spec : { ...spec, indexBound: bound }
  })
}

/** Per fed input read as Gather indices in the main graph: the smallest size of the axis it gathers along, where known. */
function gatherBounds(graph: GraphProto, fed: ReadonlySet<string>): Map<string, number> {
  const bounds = new Map<string, number>()
  // most models gather with no input they are fed: then no dims are looked up at all
  const gathers = (graph.node ?? []).filter((n) => n.op_type === 'Gather' && !n.domain && n.input?.[0] && n.input[1] && fed.has(n.input[1]))
  if (!gathers.length) return bounds
  const dims = knownDims(graph, new Set(gathers.map((n) => n.input![0]!)))
  for (const n of gathers) {
    const [data, indices] = n.input as [string, string]
    const d = dims.get(data)
    if (!d?.length) continue
    const a = int64ToNumber(n.attribute?.find((x) => x.name === 'axis')?.i)
    const size = d[a < 0 ? a + d.length : a]
    if (size !== null && size !== undefined && size > 0) bounds.set(indices, Math.min(size, bounds.get(indices) ?? Infinity))
  }
  return bounds
}

/** The dims of `names` where the graph gives them: a Constant node's value, else an initializer, else the first input or value_info declaring it. */
function knownDims(graph: GraphProto, names: ReadonlySet<string>): Map<string, (number | null)[]> {
  const dims = new Map<string, (number | null)[]>()
  for (const v of [...(graph.input ?? []), ...(graph.value_info ?? [])]) if (v.name && names.has(v.name) && !dims.has(v.name)) dims.set(v.name, specOf(v).dims)
  for (const t of graph.initializer ?? []) if (t.name && names.has(t.name)) dims.set(t.name, (t.dims ?? []).map(int64ToNumber))
  for (const n of graph.node ?? []) {
    const t = n.op_type === 'Constant' && !n.domain ? n.attribute?.find((a) => a.name === 'value')?.t : undefined
    if (t && n.output?.[0] && names.has(n.output[0])) dims.set(n.output[0], (t.dims ?? []).map(int64ToNumber))
  }
  return dims
}

function specOf(v: ValueInfoProto): InputSpec {
  const tt = v.type?.tensor_type
  const dims = (tt?.shape?.dim ?? []).map((d) => (d.value === 'dim_value' || (d.dim_value !== undefined && Object.prototype.hasOwnProperty.call(d, 'dim_value')) ? int64ToNumber(d.dim_value) : null))
  const params = (tt?.shape?.dim ?? []).map((d) => (d.value === 'dim_param' ? d.dim_param ?? '' : ''))
  return { name: v.name ?? '', elemType: tt?.elem_type ?? DataType.FLOAT, dims, params }
}

export { seededRandom }


/**
 * Inputs that fit the model's declared shapes and types, for quantizing and verifying a model
 * when the user gave no calibration data. Inputs shaped like images, audio frames, recurrent
 * state or a sample rate get natural-looking values (src/runtime/natural-inputs.ts), since the
 * sensitivity pass and bias correction rank layers on them; the rest get `uniformFeeds`.
 */
export function generatedFeeds(specs: InputSpec[], seed: number): Feeds {
  const feeds: Feeds = {}
  const rest: InputSpec[] = []
  for (const [i, spec] of specs.entries()) {
    const t = naturalInput(spec, seed, i)
    if (t) feeds[spec.name] = t
    else rest.push(spec)
  }
  return rest.length ? { ...feeds, ...uniformFeeds(rest, seed, specs) } : feeds
}

/** How many samples the data-driven refinements fit to and the accuracy target judges on, at most. */
export const TUNING_SAMPLES = 8

/** The seed of the first of tuningFeeds' samples. */
export const TUNING_SEED = 1

/**
 * The generated samples data-driven refinements fit to when the user gave no data (bias
 * correction, the accuracy target, mixed bit's guard): seeds 1 to 8, apart from verification's
 * (1234 on), so what a refinement fitted is not what verification grades.
 */
export function tuningFeeds(specs: InputSpec[], count = TUNING_SAMPLES): Feeds[] {
  return Array.from({ length: count }, (_, i) => generatedFeeds(specs, TUNING_SEED + i))
}

/**
 * Uniform values in the declared shapes and types. Symbolic dims: a leading (batch) dim takes 1,
 * the time axis of a rank-2 [batch, time] input 512 (an audio frame: silero VAD pads by more than
 * 32), spatial dims 64 (a multiple of the 32x down-sampling of detector backbones). Floats are
 * uniform in [-1, 1) (float16 too), integers small and non-negative (and below the size of the
 * axis a Gather indexes with them). `all` (default `specs`) are every input of
 * the model, so that a named dim means the same size wherever it appears.
 */
export function uniformFeeds(specs: InputSpec[], seed: number, all: InputSpec[] = specs): Feeds {
  const rand = seededRandom(seed)
  const feeds: Feeds = {}
  // A named dim means the same size wherever it appears (silero's state is [2, batch, 128]).
  const batchParams = new Set(all.filter((s) => s.dims.length > 1 && s.params[0]).map((s) => s.params[0]!))
  for (const spec of specs) {
    const rank = spec.dims.length
    const dims = spec.dims.map((d, i) => (d !== null && d > 0 ? d
      : (i === 0 && rank > 1) || batchParams.has(spec.params[i] ?? '') ? 1 : rank === 2 ? 512 : 64))
    const n = dims.reduce((a, b) => a * b, 1)
    const type = ORT_TYPES[spec.elemType]
    if (!type) throw new Error(`input '${spec.name}' has element type ${DataType[spec.elemType] ?? spec.elemType}, which generated inputs do not cover`)
    // small non-negative integers, inside the table a Gather indexes with them
    const top = Math.min(8, spec.indexBound ?? 8)
    const small = () => Math.floor(rand() * top)
    let data: ort.Tensor.DataType
    switch (type) {
      case 'float32': data = Float32Array.from({ length: n }, () => rand() * 2 - 1); break
      case 'float64': data = Float64Array.from({ length: n }, () => rand() * 2 - 1); break
      // onnxruntime takes float16 as its bit patterns
      case 'float16': data = Uint16Array.from({ length: n }, () => floatToHalf(rand() * 2 - 1)); break
      case 'int64': data = BigInt64Array.from({ length: n }, () => BigInt(small())); break
      case 'int32': data = Int32Array.from({ length: n }, small); break
      case 'int16': data = Int16Array.from({ length: n }, small); break
      case 'uint16': data = Uint16Array.from({ length: n }, small); break
      case 'int8': data = Int8Array.from({ length: n }, small); break
      case 'bool': data = Uint8Array.from({ length: n }, () => (rand() < 0.5 ? 1 : 0)); break
      default: data = Uint8Array.from({ length: n }, small)
    }
    feeds[spec.name] = new ort.Tensor(type, data, dims)
  }
  return feeds
}

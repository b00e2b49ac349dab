import ort from 'onnxruntime-node'
import { decodeModelProto, encodeModelProto } from '../../onnx/codec.js'
import type { ModelProto } from '../../onnx/onnx-types.js'
import { isExternal, tensorToFloat32 } from '../../onnx/tensor-data.js'
import type { Feeds } from '../../runtime/feeds.js'
import { exactInt8Options, exactInt8Twin } from '../../runtime/exact-int8.js'
import { ONE_THREAD_SESSION } from '../../runtime/session-options.js'
import { tensorsAmong } from '../../runtime/tensor-outputs.js'

/** A main-graph tensor's float values and dims, as one run (or the stored initializer) gives them. */
export interface TensorValues {
  data: Float32Array
  dims: number[]
}

/**
 * Runs a model with the named main-graph tensors exposed as extra outputs, one feed at a time.
 * Initializers are read from the model rather than exposed (onnxruntime does not compute them).
 * Only float32 values are returned: integer shapes and indices have no quantization error.
 *
 * A local helper of the debug reports: the calibration code's `forEachExposedTensor` did not
 * exist when this was written; it holds one run's tensors at once (the debug reports need the
 * float and quantized values of a tensor side by side, one batch of tensors at a time).
 */
export class ExposedRunner {
  private constructor(
    private readonly session: ort.InferenceSession,
    private readonly fetch: string[],
    private readonly stored: Map<string, TensorValues>,
  ) {}

  /** `exactInt8`: run int8 compute as its ops define it, as verification does (src/runtime/exact-int8.ts). */
  static create(model: Uint8Array, names: readonly string[], exactInt8 = false): Promise<ExposedRunner> {
    return ExposedRunner.forModel(ExposedRunner.decode(model, exactInt8), names)
  }

  /** The model `forModel` takes: decoded, as its exact-int8 twin with `exactInt8`. Decode once for several runners. */
  static decode(model: Uint8Array, exactInt8 = false): ModelProto {
    return decodeModelProto(exactInt8 ? exactInt8Twin(model) : model)
  }

  /** A runner of `proto` (from `decode`, which it leaves as it is) with `names` exposed. */
  static async forModel(proto: ModelProto, names: readonly string[]): Promise<ExposedRunner> {
    const graph = proto.graph
    if (!graph) throw new Error('model has no graph')
    const stored = new Map<string, TensorValues>()
    const inits = new Set<string>()
    for (const t of graph.initializer ?? []) {
      if (!t.name) continue
      inits.add(t.name)
      if (!names.includes(t.name) || isExternal(t) || t.data_type !== 1) continue
      stored.set(t.name, { data: tensorToFloat32(t), dims: (t.dims ?? []).map(Number) })
    }
    const produced = new Set<string>()
    for (const n of graph.node ?? []) for (const o of n.output ?? []) if (o) produced.add(o)
    const inputs = new Set((graph.input ?? []).map((i) => i.name ?? ''))
    const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''))
    const fetch = names.filter((n) => !inits.has(n) && (produced.has(n) || inputs.has(n)))
    // graph inputs cannot be graph outputs as well; they are taken from the feeds instead
    const add = fetch.filter((n) => produced.has(n) && !outputs.has(n))
    const exposed: ModelProto = { ...proto, graph: { ...graph, output: [...(graph.output ?? []), ...add.map((name) => ({ name }))] } }
    // No arena: a session keeps its arena at its largest run. The exact-int8 options ('basic'
    // optimization, which the int8 side needs, see exact-int8.ts) on the float side too: which
    // tensors a batch exposes then barely changes what onnxruntime fuses around them.
    const session = await ort.InferenceSession.create(encodeModelProto(exposed), exactInt8Options({ ...ONE_THREAD_SESSION, enableCpuMemArena: false }))
    // a graph input is taken from the feeds, so only produced values are checked for tensors
    const tensors = new Set(tensorsAmong(session, fetch.filter((n) => produced.has(n))))
    return new ExposedRunner(session, fetch.filter((n) => !produced.has(n) || tensors.has(n)), stored)
  }

  /** Every requested float tensor's values for one input sample. */
  async run(feeds: Feeds): Promise<Map<string, TensorValues>> {
    const values = new Map(this.stored)
    const fromOutputs = this.fetch.filter((n) => !(n in feeds))
    const result = fromOutputs.length ? await this.session.run(feeds, fromOutputs) : {}
    for (const name of this.fetch) {
      const t = name in feeds ? feeds[name]! : result[name]
      if (t && t.type === 'float32') values.set(name, { data: t.data as Float32Array, dims: [...t.dims] })
    }
    return values
  }

  release(): Promise<void> {
    return this.session.release()
  }
}

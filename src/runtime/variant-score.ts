import ort from 'onnxruntime-node'
import { cosineSimilarity } from './cosine.js'
import type { Feeds } from './feeds.js'
import { ONE_THREAD_SESSION } from './session-options.js'
import { tensorOutputs } from './tensor-outputs.js'

/** Per sample, each tensor output's float32 data; other tensor outputs are not compared (null), and outputs that are not tensors are absent. */
export type ReferenceOutputs = Record<string, Float32Array | null>[]

/** A fed constant's float values and shape. */
export interface FedTensor {
  data: Float32Array
  dims: readonly number[]
}

/** The outputs of `model` (weights written in) on every sample, kept as what variants are compared against. */
export async function referenceOutputs(model: Uint8Array, samples: readonly Feeds[]): Promise<ReferenceOutputs> {
  const session = await ort.InferenceSession.create(model, ONE_THREAD_SESSION)
  const out: ReferenceOutputs = []
  try {
    const fetch = tensorOutputs(session)
    for (const feeds of samples) {
      const result = await session.run(feeds, fetch)
      out.push(Object.fromEntries(fetch.map((name) => {
        const data = result[name]!.data
        return [name, data instanceof Float32Array ? data : null]
      })))
    }
  } finally {
    await session.release()
  }
  return out
}

/** A variant scored in a session of its own, its values written into `model`. */
export async function scoreWritten(model: Uint8Array, samples: readonly Feeds[], reference: ReferenceOutputs, count: number): Promise<number> {
  const session = await ort.InferenceSession.create(model, ONE_THREAD_SESSION)
  try {
    return await meanWorstCosine(session, (i) => samples[i]!, reference, count)
  } finally {
    await session.release()
  }
}

/** Mean over the first `count` samples of the worst float output's cosine vs the reference. */
async function meanWorstCosine(session: ort.InferenceSession, feeds: (i: number) => Feeds, reference: ReferenceOutputs, count: number): Promise<number> {
  // the outputs the reference holds as float32: the only ones compared
  const fetch = Object.keys(reference[0] ?? {}).filter((name) => reference[0]![name])
  if (fetch.length === 0) return 1
  let sum = 0
  for (let i = 0; i < count; i++) {
    const out = await session.run(feeds(i), fetch)
    let worst = 1
    for (const name of fetch) {
      const a = reference[i]![name]
      const b = out[name]!.data
      if (a && b instanceof Float32Array) worst = Math.min(worst, cosineSimilarity(a, b))
    }
    sum += worst
  }
  return sum / count
}

/**
 * Scores variants of a model whose weights are graph inputs (src/onnx/constants-as-inputs.ts):
 * one session for every variant, each fed its values. A variant names only the inputs it
 * changes; the others keep their float values.
 */
export class VariantScorer {
  private constructor(private readonly session: ort.InferenceSession, private readonly floats: Readonly<Record<string, ort.Tensor>>) {}

  static async create(model: Uint8Array, floats: Readonly<Record<string, FedTensor>>): Promise<VariantScorer> {
    // the tensors first: a mismatched one throws before there is a session to release
    const tensors: Record<string, ort.Tensor> = {}
    for (const [name, t] of Object.entries(floats)) tensors[name] = new ort.Tensor('float32', t.data, t.dims)
    return new VariantScorer(await ort.InferenceSession.create(model, ONE_THREAD_SESSION), tensors)
  }

  /**
   * Mean over the first `count` samples of the worst float output's cosine vs the reference, with
   * `changed` values in those inputs: how close the variant stays to the original.
   */
  async score(changed: Readonly<Record<string, Float32Array>>, samples: readonly Feeds[], reference: ReferenceOutputs, count: number): Promise<number> {
    const fed: Record<string, ort.Tensor> = { ...this.floats }
    for (const [name, data] of Object.entries(changed)) {
      const float = Object.hasOwn(this.floats, name) ? this.floats[name] : undefined
      if (!float) throw new Error(`'${name}' is not an input this scorer feeds`)
      fed[name] = new ort.Tensor('float32', data, float.dims)
    }
    return meanWorstCosine(this.session, (i) => ({ ...samples[i]!, ...fed }), reference, count)
  }

  release(): Promise<void> {
    return this.session.release()
  }
}

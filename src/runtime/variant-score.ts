import ort from 'onnxruntime-node'
import { cosineSimilarity } from './cosine.js'
import type { Feeds } from './feeds.js'
import { ONE_THREAD_SESSION } from './session-options.js'
import { floatOutputData } from './numeric-data.js'
import { comparedAcrossSamples, OutputCosines } from './output-cosine.js'
import { recordOutputs } from './recorded-outputs.js'
import { NoTensorOutputs } from './tensor-outputs.js'

/** Per sample, each floating-point tensor output's values as float32; integer, bool and string tensor outputs are not compared (null), and outputs that are not tensors are absent. */
export type ReferenceOutputs = Record<string, Float32Array | null>[]

/** A fed constant's float values and shape. */
export interface FedTensor {
  data: Float32Array
  dims: readonly number[]
}

/**
 * The outputs of `model` (weights written in) on every sample, kept as what variants are compared
 * against. Throws NoTensorOutputs when no output is floating point: a score of 1 would then say
 * that every variant meets any target.
 */
export async function referenceOutputs(model: Uint8Array, samples: readonly Feeds[]): Promise<ReferenceOutputs> {
  const { fetch, outputs } = await recordOutputs(model, samples, ONE_THREAD_SESSION, floatOutputData)
  if (outputs.length && !outputs[0]!.some((values) => values)) {
    throw new NoTensorOutputs(`the model has no floating-point tensor outputs to measure closeness on (${fetch.map((n) => `'${n}'`).join(', ')} hold integers, bools or strings)`)
  }
  return outputs.map((values) => Object.fromEntries(fetch.map((name, j) => [name, values[j] ?? null])))
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

/**
 * How close a model stays to the reference on the first `count` samples: the mean over samples
 * of the worst float output's cosine, and for outputs of one element a sample (a score, a
 * probability) their cosine across the samples (src/runtime/output-cosine.ts); the least of those.
 * Ranked on its speech probability as well as its state, silero op18 streamed over 256 frames of
 * speech-like audio (test/helpers/silero-stream.ts; one-off script at cd28c42, before the streams
 * had pauses) read 0.99997 on that probability at 8 bit and 0.99964 at 6, against 0.99960 and
 * 0.99872 ranked on the state alone. (On frames of 512 samples, where op18 reads silence, the
 * probability had misled the ranking instead.)
 */
async function meanWorstCosine(session: ort.InferenceSession, feeds: (i: number) => Feeds, reference: ReferenceOutputs, count: number): Promise<number> {
  if (count < 1) throw new RangeError('a variant is scored on one sample at least')
  // the outputs the reference holds values of (referenceOutputs throws when there is none)
  const fetch = Object.keys(reference[0] ?? {}).filter((name) => reference[0]![name])
  // as OutputCosines decides: across the samples only when every sample holds one element
  const across = new Set(fetch.filter((name) => reference.slice(0, count).every((r) => comparedAcrossSamples(r[name]?.length ?? 0))))
  const acrossCosines = new OutputCosines()
  let sum = 0
  for (let i = 0; i < count; i++) {
    const out = await session.run(feeds(i), fetch)
    let worst = 1
    for (const name of fetch) {
      const a = reference[i]![name]
      const b = floatOutputData(out[name]!)
      if (!a || !b) continue
      if (across.has(name)) acrossCosines.add(name, a, b)
      else worst = Math.min(worst, cosineSimilarity(a, b))
    }
    sum += worst
  }
  return Math.min(sum / count, acrossCosines.least())
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
   * How close the variant with `changed` values in those inputs stays to the original on the
   * first `count` samples, measured as meanWorstCosine says.
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

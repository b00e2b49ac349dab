import ort from 'onnxruntime-node'
import { exactInt8Options, exactInt8Twin } from './exact-int8.js'
import type { Feeds } from './feeds.js'
import { numericData } from './numeric-data.js'
import { OutputCosines } from './output-cosine.js'
import { openSession, recordOutputs } from './recorded-outputs.js'
import { tensorOutputs } from './tensor-outputs.js'

export interface OutputComparison {
  name: string
  /** The output's element type as onnxruntime names it ('float32', 'int64', ...). */
  type: string
  cosine: number
  maxAbsDiff: number
}

export interface ComparisonResult {
  /**
   * Each output's cosine: the mean over samples, or for an output of one element a sample the
   * cosine of its values across the samples (src/runtime/output-cosine.ts); the model-level
   * figure is the minimum output.
   */
  outputs: OutputComparison[]
  cosine: number
  samples: number
}

export type ModelSource = string | Uint8Array

// severity 4 (fatal only): a model that fails on the samples is reported through the thrown error
const plainOptions = (threads: number): ort.InferenceSession.SessionOptions => ({ intraOpNumThreads: threads, interOpNumThreads: 1, logSeverityLevel: 4 })

async function createSession(model: ModelSource, threads: number, exact: boolean): Promise<ort.InferenceSession> {
  return openSession(model, exact ? exactInt8Options(plainOptions(threads)) : plainOptions(threads))
}

export interface CompareOptions {
  /** intra-op threads of each session @default 1 */
  threads?: number
  /**
   * How the candidate's int8 compute runs: `'exact'` as its ops define it, the same on every CPU
   * and in onnxruntime-web (src/runtime/exact-int8.ts; a candidate given as a path must already
   * be the MatMulInteger twin),
   * `'kernels'` with onnxruntime-node's default fusions into its int8 kernels, which saturate on
   * x86 CPUs without VNNI.
   * @default 'kernels'
   */
  int8?: 'exact' | 'kernels'
}

/**
 * Run the float and the quantized model on the same inputs in onnxruntime-node and compare every
 * tensor output: cosine similarity (numeric outputs) averaged over the samples, or across them for
 * outputs of one element a sample. The float model may come as a RecordedReference, its outputs
 * run once on these very samples and thread count (else a RangeError); then only the candidate runs.
 */
export async function compareModels(reference: ModelSource | RecordedReference, candidate: ModelSource, samples: Feeds[], options: CompareOptions = {}): Promise<ComparisonResult> {
  const threads = options.threads ?? 1
  // with nothing run, every output would read as a perfect cosine
  if (samples.length === 0) throw new RangeError('models are compared on at least one sample')
  const recorded = reference instanceof RecordedReference ? reference : null
  if (recorded && !recorded.recordedOn(samples, threads)) throw new RangeError('a recorded reference is compared on the samples and thread count it was recorded with')
  const a = reference instanceof RecordedReference ? null : await createSession(reference, threads, false)
  try {
    let b: ort.InferenceSession
    try {
      const exact = options.int8 === 'exact'
      b = await createSession(exact && typeof candidate !== 'string' ? exactInt8Twin(candidate) : candidate, threads, exact)
    } catch (err) {
      throw new CandidateRunError(`onnxruntime-node cannot load the quantized model: ${firstLine(err)}`, { cause: err })
    }
    try {
      const fetch = a ? tensorOutputs(a) : recorded!.fetch
      const missing = fetch.filter((name) => !b.outputNames.includes(name))
      if (missing.length) throw new CandidateRunError(`the quantized model lacks the float model's output '${missing[0]}'`)
      const cosines = new OutputCosines()
      const maxAbs = new Map<string, number>()
      const types = new Map<string, string>()
      for (const [k, feeds] of samples.entries()) {
        const xs = a ? numericOutputs(await a.run(feeds, fetch), fetch) : recorded!.outputs[k]!
        let rb: ort.InferenceSession.OnnxValueMapType
        try {
          rb = await b.run(feeds, fetch)
        } catch (err) {
          throw new CandidateRunError(`onnxruntime-node runs the float model but fails on the quantized one: ${firstLine(err)}`, { cause: err })
        }
        // element types are the model's, the same on every sample
        if (k === 0) for (const name of fetch) types.set(name, rb[name]!.type)
        for (const [j, name] of fetch.entries()) {
          const x = xs[j]!
          const y = numericData(rb[name]!)
          let most = maxAbs.get(name) ?? 0
          for (let i = 0; i < x.length; i++) most = Math.max(most, Math.abs(x[i]! - y[i]!))
          maxAbs.set(name, most)
          cosines.add(name, x, y)
        }
      }
      const outputs = cosines.names().map((name) => ({ name, type: types.get(name)!, cosine: cosines.cosine(name), maxAbsDiff: maxAbs.get(name)! }))
      return { outputs, cosine: cosines.least(), samples: samples.length }
    } finally {
      await b.release()
    }
  } finally {
    await a?.release()
  }
}

const numericOutputs = (result: ort.InferenceSession.OnnxValueMapType, fetch: readonly string[]): ArrayLike<number>[] => fetch.map((name) => numericData(result[name]!))

/**
 * The float model's tensor outputs on fixed samples, run once: compared with several candidates
 * (mixed bit's auto_tune tries one per init_scale), each comparison then runs only the candidate.
 * onnxruntime computes the same outputs for the same model, inputs and session options, so the
 * result is the one compareModels gives with the model itself.
 */
export class RecordedReference {
  private constructor(
    /** the tensor outputs compared, in the session's order */
    readonly fetch: readonly string[],
    /** per sample, each of `fetch`'s values (numericData) */
    readonly outputs: readonly ArrayLike<number>[][],
    private readonly samples: readonly Feeds[],
    private readonly threads: number,
  ) {}

  /** Run `model` on `samples` once, with `threads` intra-op threads (as compareModels' `threads` option, default 1). */
  static async record(model: ModelSource, samples: Feeds[], threads = 1): Promise<RecordedReference> {
    const { fetch, outputs } = await recordOutputs(model, samples, plainOptions(threads), numericData)
    return new RecordedReference(fetch, outputs, samples, threads)
  }

  /** Whether `samples` are the very samples (same objects, same order) and `threads` the thread count the outputs were recorded with. */
  recordedOn(samples: readonly Feeds[], threads: number): boolean {
    return threads === this.threads && samples.length === this.samples.length && samples.every((s, i) => s === this.samples[i])
  }
}

/**
 * The float model ran but the quantized one did not: the output is broken, unlike a model that
 * cannot run on the inputs at all (then neither runs and verification is merely skipped).
 */
export class CandidateRunError extends Error {
  override name = 'CandidateRunError'
}

const firstLine = (err: unknown): string => (err instanceof Error ? err.message : String(err)).split('\n')[0]!

import type ort from 'onnxruntime-node'
import { nearestName } from './cfg/nearest-name.js'
import { QuantizeError } from './errors.js'
import { availableCores } from './runtime/cores.js'
import { ORT_TYPES } from './calibrate/input-layout.js'
import type { Feeds, InputSpec } from './runtime/feeds.js'
import { firstNonFinite } from './runtime/non-finite.js'
import type { QuantizeOptions } from './quantize-model.js'

/** What an options problem is reported against (no file holds them). */
const WHERE = 'quantizeModel options'

const KEYS = ['verify', 'verifySamples', 'externalDataLocation', 'accuracyTarget', 'biasCorrection', 'errorFeedback', 'samples', 'sizes', 'threads', 'onProgress', 'debug'] as const satisfies readonly (keyof QuantizeOptions)[]
const BOOLEANS = ['verify', 'biasCorrection', 'errorFeedback', 'sizes', 'debug'] as const

/** Most generated verification samples: they are made all at once. */
const MAX_VERIFY_SAMPLES = 256

function reject(key: string, value: unknown, allowed: string): never {
  const shown = typeof value === 'string' ? `'${value}'` : typeof value === 'function' ? 'a function' : Array.isArray(value) ? 'an array' : String(value)
  throw new QuantizeError(WHERE, `${key}=${shown} is not allowed; allowed: ${allowed}`, 'input')
}

/**
 * Checks what a JavaScript caller passed (TypeScript's checks do not reach them) and returns the
 * options the engine runs with: a misspelt key, a value of the wrong type or out of range is a
 * QuantizeError naming the key, the value and what is allowed, rather than a TypeError from deep
 * inside or a value quietly taken as its default. `threads` is capped at the machine's cores
 * (each thread holds its own onnxruntime session), and onProgress's return value is ignored (an
 * async callback that rejects would otherwise end the process).
 */
export function resolveQuantizeOptions(options: unknown): QuantizeOptions {
  if (options === undefined) return {}
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new QuantizeError(WHERE, `options must be an object, not ${options === null ? 'null' : Array.isArray(options) ? 'an array' : typeof options}`, 'input')
  }
  const o = options as Record<string, unknown>
  for (const key of Object.keys(o)) {
    if ((KEYS as readonly string[]).includes(key)) continue
    const near = nearestName(key, KEYS)
    throw new QuantizeError(WHERE, `unknown option '${key}'${near ? `; did you mean '${near}'?` : `; known: ${KEYS.join(', ')}`}`, 'input')
  }
  for (const key of BOOLEANS) if (o[key] !== undefined && typeof o[key] !== 'boolean') reject(key, o[key], 'true, false')
  const out = { ...o } as QuantizeOptions
  const { verifySamples, accuracyTarget, threads, externalDataLocation, onProgress, samples } = o
  if (verifySamples !== undefined && !(Number.isInteger(verifySamples) && (verifySamples as number) >= 1 && (verifySamples as number) <= MAX_VERIFY_SAMPLES)) {
    reject('verifySamples', verifySamples, `an integer from 1 to ${MAX_VERIFY_SAMPLES} (verify: false turns verification off)`)
  }
  if (accuracyTarget !== undefined && accuracyTarget !== false && !(typeof accuracyTarget === 'number' && accuracyTarget > 0 && accuracyTarget <= 1)) {
    reject('accuracyTarget', accuracyTarget, 'an output cosine in (0, 1], or false to turn it off')
  }
  if (threads !== undefined) {
    if (!(Number.isInteger(threads) && (threads as number) >= 1)) reject('threads', threads, 'an integer >= 1')
    out.threads = Math.min(threads as number, availableCores())
  }
  if (externalDataLocation !== undefined && typeof externalDataLocation !== 'string') reject('externalDataLocation', externalDataLocation, 'a file name')
  if (onProgress !== undefined) {
    if (typeof onProgress !== 'function') reject('onProgress', onProgress, 'a function (message: string) => void')
    out.onProgress = (message) => {
      const r: unknown = (onProgress as (m: string) => unknown)(message)
      if (r instanceof Promise) r.catch(() => undefined)
    }
  }
  if (samples !== undefined) checkSamples(samples)
  return out
}

/**
 * Samples must be a non-empty array of `{ [inputName]: ort.Tensor }` whose floating-point values
 * are all finite: one NaN in a sample turns every channel mean it reaches into NaN, and bias
 * correction would write NaN biases into the model.
 */
function checkSamples(samples: unknown): asserts samples is Feeds[] {
  if (!Array.isArray(samples) || samples.length === 0) reject('samples', samples, 'a non-empty array of { [inputName]: ort.Tensor }')
  for (const [k, feeds] of samples.entries()) {
    if (typeof feeds !== 'object' || feeds === null || Array.isArray(feeds) || Object.keys(feeds).length === 0) {
      throw new QuantizeError(WHERE, `samples[${k}] is not an object of input tensors ({ [inputName]: ort.Tensor })`, 'input')
    }
    for (const [name, t] of Object.entries(feeds as Record<string, unknown>)) {
      // by shape, not instanceof: a tensor from another copy of onnxruntime-common is one too
      if (!isTensorLike(t)) throw new QuantizeError(WHERE, `samples[${k}].${name} is not an onnxruntime Tensor (new ort.Tensor(type, data, dims))`, 'input')
      const bad = firstNonFinite(t)
      if (bad >= 0) throw new QuantizeError(WHERE, `samples[${k}].${name} holds ${String((t.data as ArrayLike<number>)[bad])} at element ${bad}: samples must be finite`, 'input')
    }
  }
}

/**
 * Given samples checked against the model's inputs, before any run: each names every input and
 * nothing else, with its element type, rank and fixed dims. onnxruntime would say so too, but
 * only as each refinement's warning in turn, and the model would quietly get the plain encoding.
 */
export function checkSamplesFit(samples: readonly Feeds[], specs: readonly InputSpec[]): void {
  const names = specs.map((s) => s.name).join(', ')
  for (const [k, feeds] of samples.entries()) {
    for (const spec of specs) {
      const t = feeds[spec.name]
      if (!t) throw new QuantizeError(WHERE, `samples[${k}] has no input '${spec.name}' (the model's inputs: ${names})`, 'input')
      const want = ORT_TYPES[spec.elemType]
      if (want && t.type !== want) throw new QuantizeError(WHERE, `samples[${k}].${spec.name} is ${t.type}, but the model's input '${spec.name}' takes ${want}`, 'input')
      const fits = t.dims.length === spec.dims.length && spec.dims.every((d, i) => d === null || d <= 0 || d === t.dims[i])
      if (!fits) throw new QuantizeError(WHERE, `samples[${k}].${spec.name} has dims [${t.dims.join(', ')}], but the model's input '${spec.name}' is [${spec.dims.map((d) => (d === null || d <= 0 ? '?' : d)).join(', ')}]`, 'input')
    }
    for (const name of Object.keys(feeds)) {
      if (!specs.some((s) => s.name === name)) throw new QuantizeError(WHERE, `samples[${k}].${name} is not an input of the model (its inputs: ${names})`, 'input')
    }
  }
}

function isTensorLike(t: unknown): t is ort.Tensor {
  const x = t as Partial<ort.Tensor> | null
  return typeof x === 'object' && x !== null && typeof x.type === 'string' && Array.isArray(x.dims) && x.data !== undefined
}

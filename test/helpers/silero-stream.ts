// Silero VAD as its wrappers run it: a stream of frames, each model carrying its own recurrent
// state from frame to frame (v5 and op18 with the last 64 samples of the previous frame in front,
// zeros before the first).
// Judged frame by frame from a zero state, a quantized model's error cannot build up through the
// state; here it can, as in use.
import ort from 'onnxruntime-node'
import { cosineSimilarity } from '../../src/runtime/cosine.js'
import { seededRandom, type Feeds } from '../../src/runtime/feeds.js'
import { SCORE_THRESHOLD } from './decisions.js'
import { sileroFraming, sileroInputNames, sileroSamples } from './model-inputs.js'
import { openSession } from '../../src/runtime/recorded-outputs.js'

/** How a silero model is fed (model-inputs.ts sileroFraming), its inputs at the start of a stream, and which output feeds which state input on the next frame. */
interface StreamShape {
  hop: number
  context: number
  /** every input but the audio, as sileroSamples makes them: zero state, sr 16000 */
  start: Feeds
  carry: Record<string, string>
}

const shapes = new Map<string, StreamShape>()

/** `file`'s stream shape, read from the file once (streamLength and compareStreams ask for it per stream and per candidate). */
function streamShape(file: string): StreamShape {
  let shape = shapes.get(file)
  if (!shape) {
    const names = sileroInputNames(file)
    const { input: _audio, ...start } = sileroSamples(names, 1)[0]!
    const carry: Record<string, string> = names.includes('state') ? { state: 'stateN' } : { h: 'hn', c: 'cn' }
    shapes.set(file, (shape = { ...sileroFraming(names), start, carry }))
  }
  return shape
}

interface StreamRun {
  probs: number[]
  /** per frame, each carried state output's values */
  states: Float32Array[][]
}

/**
 * Speech probability per frame and the states after it, for `audio` cut into frames of `hop`
 * new samples, each after the last `context` samples before it (zeros before the first frame,
 * as the wrappers start), streamed through `session` from a zero state.
 */
async function runStream(session: ort.InferenceSession, shape: StreamShape, audio: Float32Array): Promise<StreamRun> {
  let state: Feeds = shape.start
  const run: StreamRun = { probs: [], states: [] }
  for (let start = 0; start + shape.hop <= audio.length; start += shape.hop) {
    const frame = new Float32Array(shape.context + shape.hop)
    const from = Math.max(0, start - shape.context)
    frame.set(audio.subarray(from, start + shape.hop), frame.length - (start + shape.hop - from))
    const out = await session.run({ ...state, input: new ort.Tensor('float32', frame, [1, frame.length]) })
    run.probs.push((out.output!.data as Float32Array)[0]!)
    run.states.push(Object.values(shape.carry).map((name) => out[name]!.data as Float32Array))
    state = { ...state, ...Object.fromEntries(Object.entries(shape.carry).map(([input, output]) => [input, out[output]!])) }
  }
  return run
}

export interface StreamComparison {
  frames: number
  /** cosine of the speech probabilities over every frame of every stream */
  probCosine: number
  /** mean over frames of the carried state's cosine (the least of legacy's h and c) */
  stateCosine: number
  /** frames whose speech decision (probability >= 0.5) differs from fp32's */
  decisionFlips: number
  /** frames fp32 calls speech: a decision check means something only when some are and some are not */
  speechFrames: number
}

/** Each of `streams` through `model` (default session options), from a zero state. */
async function runStreams(model: string | Uint8Array, shape: StreamShape, streams: readonly Float32Array[]): Promise<StreamRun[]> {
  const session = await openSession(model, {})
  try {
    const runs: StreamRun[] = []
    for (const audio of streams) runs.push(await runStream(session, shape, audio))
    return runs
  } finally {
    await session.release()
  }
}

/**
 * Stream each of `streams` through the float model once and through each candidate (each its own
 * state), and compare each candidate with the float model.
 */
export async function compareStreams(reference: string, candidates: readonly Uint8Array[], streams: readonly Float32Array[]): Promise<StreamComparison[]> {
  const shape = streamShape(reference)
  const floats = await runStreams(reference, shape, streams)
  const out: StreamComparison[] = []
  for (const candidate of candidates) {
    const runs = await runStreams(candidate, shape, streams)
    const ref: number[] = []
    const got: number[] = []
    let stateSum = 0
    let flips = 0
    let speech = 0
    floats.forEach((x, s) => {
      const y = runs[s]!
      ref.push(...x.probs)
      got.push(...y.probs)
      x.states.forEach((carried, i) => { stateSum += Math.min(...carried.map((v, k) => cosineSimilarity(v, y.states[i]![k]!))) })
      x.probs.forEach((p, i) => {
        if (p >= SCORE_THRESHOLD) speech++
        if ((p >= SCORE_THRESHOLD) !== (y.probs[i]! >= SCORE_THRESHOLD)) flips++
      })
    })
    out.push({ frames: ref.length, probCosine: cosineSimilarity(ref, got), stateCosine: stateSum / ref.length, decisionFlips: flips, speechFrames: speech })
  }
  return out
}

/** Samples in a stream of `frames` frames for the model at `file`. */
export function streamLength(file: string, frames: number): number {
  return streamShape(file).hop * frames
}

/**
 * `length` samples of talk and pauses: half-second stretches of speech-like audio (`speech`, from
 * a seed) between stretches of faint noise, so that a stream crosses the speech threshold both
 * ways.
 */
export function talkAndPauses(seed: number, length: number, speech: (seed: number, length: number) => Float32Array): Float32Array {
  const out = new Float32Array(length)
  const stretch = 8000
  const rand = seededRandom(seed)
  for (let at = 0, k = 0; at < length; at += stretch, k++) {
    const n = Math.min(stretch, length - at)
    if (k % 2 === 0) out.set(speech(seed * 31 + k, n), at)
    else for (let i = 0; i < n; i++) out[at + i] = (rand() - 0.5) * 0.004
  }
  return out
}

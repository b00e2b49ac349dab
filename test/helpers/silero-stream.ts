// Silero VAD as its wrappers run it: a stream of frames, each model carrying its own recurrent
// state from frame to frame (v5 and op18 with the last 64 samples of the previous frame in front).
// Judged frame by frame from a zero state, a quantized model's error cannot build up through the
// state; here it can, as in use.
import fs from 'node:fs'
import ort from 'onnxruntime-node'
import { cosineSimilarity } from '../../src/runtime/cosine.js'
import { decodeModelProto } from '../../src/onnx/codec.js'
import { inputSpecs } from '../../src/runtime/feeds.js'
import { SCORE_THRESHOLD } from './decisions.js'

/** How a silero model is fed: v5 and op18 (`state` in, `stateN` out), legacy (`h`, `c` in, `hn`, `cn` out). */
interface StreamShape {
  hop: number
  context: number
  /** state input → the output that feeds it on the next frame */
  carry: Record<string, string>
  zeros: Record<string, readonly number[]>
}

function streamShape(file: string): StreamShape {
  const names = inputSpecs(decodeModelProto(fs.readFileSync(file))).map((s) => s.name)
  if (names.includes('state')) return { hop: 512, context: 64, carry: { state: 'stateN' }, zeros: { state: [2, 1, 128] } }
  if (names.includes('h') && names.includes('c')) return { hop: 1536, context: 0, carry: { h: 'hn', c: 'cn' }, zeros: { h: [2, 1, 64], c: [2, 1, 64] } }
  throw new Error(`not a silero VAD model: inputs ${names.join(', ')}`)
}

/** Speech probability per frame and the state after it (the first state output), for `audio` streamed through `session`. */
async function runStream(session: ort.InferenceSession, shape: StreamShape, audio: Float32Array): Promise<{ probs: number[]; states: Float32Array[] }> {
  let state: Record<string, ort.Tensor> = {}
  for (const [name, dims] of Object.entries(shape.zeros)) state[name] = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims)
  const sr = new ort.Tensor('int64', BigInt64Array.from([16000n]), [])
  const probs: number[] = []
  const states: Float32Array[] = []
  const [firstState] = Object.values(shape.carry)
  for (let start = shape.context; start + shape.hop <= audio.length; start += shape.hop) {
    const frame = audio.slice(start - shape.context, start + shape.hop)
    const out = await session.run({ input: new ort.Tensor('float32', frame, [1, frame.length]), sr, ...state })
    probs.push((out.output!.data as Float32Array)[0]!)
    states.push(out[firstState!]!.data as Float32Array)
    state = Object.fromEntries(Object.entries(shape.carry).map(([input, output]) => [input, out[output]!]))
  }
  return { probs, states }
}

export interface StreamComparison {
  frames: number
  /** cosine of the speech probabilities over every frame of every stream */
  probCosine: number
  /** mean over frames of the carried state's cosine */
  stateCosine: number
  /** frames whose speech decision (probability >= 0.5) differs from fp32's */
  decisionFlips: number
}

/** Stream each of `streams` through the float and the candidate model (each its own state) and compare. */
export async function compareStreams(reference: string, candidate: Uint8Array, streams: readonly Float32Array[]): Promise<StreamComparison> {
  const shape = streamShape(reference)
  const a = await ort.InferenceSession.create(reference)
  const b = await ort.InferenceSession.create(candidate)
  try {
    const ref: number[] = []
    const got: number[] = []
    let stateSum = 0
    let flips = 0
    for (const audio of streams) {
      const x = await runStream(a, shape, audio)
      const y = await runStream(b, shape, audio)
      ref.push(...x.probs)
      got.push(...y.probs)
      x.states.forEach((s, i) => { stateSum += cosineSimilarity(s, y.states[i]!) })
      x.probs.forEach((p, i) => { if ((p >= SCORE_THRESHOLD) !== (y.probs[i]! >= SCORE_THRESHOLD)) flips++ })
    }
    return { frames: ref.length, probCosine: cosineSimilarity(ref, got), stateCosine: stateSum / ref.length, decisionFlips: flips }
  } finally {
    await a.release()
    await b.release()
  }
}

/** Samples in a stream of `frames` frames for the model at `file` (its context included). */
export function streamLength(file: string, frames: number): number {
  const shape = streamShape(file)
  return shape.context + shape.hop * frames
}

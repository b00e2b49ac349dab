// Phase 3: fp32 vs quantized inference latency in onnxruntime-node, side by side in one process.
// All variants of a model get sessions with the same options; runs are interleaved
// (fp32, q8, q6, fp32, q8, q6, ...) after a warm-up, and each ratio is the median of the
// per-round ratios, so load that comes and goes hits both sides of a ratio alike.
import ort from 'onnxruntime-node'
import type { Feeds } from '../src/runtime/feeds.js'
import { ONE_THREAD_SESSION } from '../src/runtime/session-options.js'
import { median } from './stats.js'

export type ThreadSetting = 'default' | 1 | 2
export const THREAD_SETTINGS: readonly ThreadSetting[] = ['default', 1, 2]

export function sessionOptions(threads: ThreadSetting): ort.InferenceSession.SessionOptions {
  return threads === 'default' ? {} : { intraOpNumThreads: threads }
}

export interface LatencyResult {
  /** median ms per inference, per variant (index 0 = the reference) */
  medianMs: number[]
  /** median over rounds of variant / reference time, per variant (index 0 is 1) */
  ratio: number[]
  /** fastest sample per variant / fastest reference sample: a cross-check that load on the machine cannot inflate */
  minRatio: number[]
  rounds: number
  /** inferences per timed sample (small models run several so a sample is long enough to time) */
  perSample: number
}

export interface LatencyOptions {
  /** untimed runs per session before timing */
  warmup: number
  /** at least this many timed rounds */
  rounds: number
  /** after `rounds`, more rounds (up to maxRounds) while the timed part has taken less than this many ms */
  budgetMs: number
  maxRounds: number
  /** a timed sample runs the model enough times to take at least this long */
  minSampleMs: number
}

async function timeRuns(session: ort.InferenceSession, feeds: Feeds, n: number): Promise<number> {
  const t = performance.now()
  for (let i = 0; i < n; i++) await session.run(feeds)
  return (performance.now() - t) / n
}

/**
 * Latency of each model variant (bytes) on `feeds` with one thread setting. Each round times
 * every variant once, in an order rotated every round (a b c, b c a, c a b, ...), so no variant
 * always runs right after the same other session.
 */
export async function compareLatency(variants: readonly Uint8Array[], feeds: Feeds, threads: ThreadSetting, opts: LatencyOptions): Promise<LatencyResult> {
  const sessions: ort.InferenceSession[] = []
  try {
    for (const v of variants) sessions.push(await ort.InferenceSession.create(v, sessionOptions(threads)))
    const warm: number[] = []
    for (let w = 0; w < opts.warmup; w++) {
      for (const s of sessions) {
        const t = await timeRuns(s, feeds, 1)
        if (w > 0) warm.push(t) // the first run of a session pays one-time allocations
      }
    }
    const single = Math.max(median(warm), 1e-3)
    const perSample = Math.max(1, Math.ceil(opts.minSampleMs / single))
    const times = sessions.map((): number[] => [])
    const ratios = sessions.map((): number[] => [])
    const started = performance.now()
    let rounds = 0
    for (let r = 0; r < opts.maxRounds && (r < opts.rounds || performance.now() - started < opts.budgetMs); r++, rounds++) {
      const round = new Array<number>(sessions.length)
      for (let k = 0; k < sessions.length; k++) {
        const i = (r + k) % sessions.length
        round[i] = await timeRuns(sessions[i]!, feeds, perSample)
      }
      round.forEach((t, i) => {
        times[i]!.push(t)
        ratios[i]!.push(t / round[0]!)
      })
    }
    const mins = times.map((t) => Math.min(...t))
    return { medianMs: times.map(median), ratio: ratios.map(median), minRatio: mins.map((m) => m / mins[0]!), rounds, perSample }
  } finally {
    for (const s of sessions) await s.release()
  }
}

/**
 * Median ms of one run of `model` on `feeds` in a session of one intra-op thread, as the accuracy
 * target's scores run (src/runtime/session-options.ts), after `warmup` untimed runs.
 */
export async function oneThreadRunMs(model: Uint8Array, feeds: Feeds, runs = 9, warmup = 3): Promise<number> {
  const session = await ort.InferenceSession.create(model, ONE_THREAD_SESSION)
  try {
    for (let i = 0; i < warmup; i++) await session.run(feeds)
    const times: number[] = []
    for (let i = 0; i < runs; i++) times.push(await timeRuns(session, feeds, 1))
    return median(times)
  } finally {
    await session.release()
  }
}

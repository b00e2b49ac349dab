// The performance goals, and each benchmark row checked against them.

export const GOALS = {
  /** full quantization time / protobuf decode+encode time */
  timeRatio: 1.5,
  /** peak RSS growth of one quantization / model file size */
  rssRatio: 2.5,
  /** quantized / fp32 inference latency, every thread setting */
  latencyRatio: 1.05,
  /** output cosine vs fp32 on realistic inputs */
  cosine: (bits: number): number => (bits >= 8 ? 0.9999 : 0.999),
  /** 8-bit file / fp32 file, for weight-dominated models */
  sizeRatio8: 0.3,
} as const

export interface GoalCheck {
  name: 'time' | 'rss' | 'latency' | 'cosine' | 'stream' | 'size'
  /** null: the goal does not apply to this row */
  ok: boolean | null
  /** missed by the numbers, but no further than timing noise moves them (see the latency check in run.ts) */
  inconclusive?: boolean
  /** how far off, when missed, e.g. "12.3x vs <= 1.5x" */
  detail: string
}

export const isMissed = (c: GoalCheck): boolean => c.ok === false && !c.inconclusive
export const isInconclusive = (c: GoalCheck): boolean => c.ok === false && c.inconclusive === true

export function checkMark(c: GoalCheck): string {
  return c.ok === null ? '' : c.ok ? '✅' : c.inconclusive ? '⚠️' : '❌'
}

export function summarize(checks: readonly GoalCheck[]): string {
  const missed = checks.filter(isMissed)
  const unsure = checks.filter(isInconclusive)
  const applied = checks.filter((c) => c.ok !== null)
  const parts: string[] = []
  if (missed.length) parts.push(`❌ ${missed.map((c) => c.name).join(', ')}`)
  if (unsure.length) parts.push(`⚠️ ${unsure.map((c) => c.name).join(', ')}`)
  return parts.length ? parts.join('; ') : `✅ ${applied.length}/${applied.length}`
}

export type LatencyVerdict = 'met' | 'missed' | 'noise'

/**
 * A latency ratio over the goal counts as missed only when the fastest runs agree (their ratio is
 * over the goal too) and it exceeds the A/A control (fp32 in a second session) at the same
 * setting by more than the goal's margin; otherwise load on the machine moves ratios that far by
 * itself.
 */
export function latencyVerdict(l: { ratio: number; min: number; control: number }): LatencyVerdict {
  if (l.ratio <= GOALS.latencyRatio) return 'met'
  return l.min > GOALS.latencyRatio && l.ratio - l.control > GOALS.latencyRatio - 1 ? 'missed' : 'noise'
}

export const verdictMark = (v: LatencyVerdict): string => (v === 'met' ? '✅' : v === 'missed' ? '❌' : '⚠️')

// The performance goals, and each benchmark row checked against them.
import type { BitWidth } from './models.js'

export const GOALS = {
  /** full quantization time / protobuf decode+encode time */
  timeRatio: 1.5,
  /** peak RSS growth of one quantization / model file size */
  rssRatio: 2.5,
  /** quantized / fp32 inference latency, every thread setting */
  latencyRatio: 1.05,
  /** output cosine vs fp32 on realistic inputs */
  cosine: (bits: BitWidth): number => (bits >= 8 ? 0.9999 : 0.999),
  /** 8-bit file / fp32 file, for weight-dominated models */
  sizeRatio8: 0.3,
} as const

export interface GoalCheck {
  name: 'time' | 'rss' | 'latency' | 'cosine' | 'size'
  /** null: the goal does not apply to this row */
  ok: boolean | null
  /** how far off, when missed, e.g. "12.3x vs <= 1.5x" */
  detail: string
}

export function summarize(checks: readonly GoalCheck[]): string {
  const missed = checks.filter((c) => c.ok === false)
  const applied = checks.filter((c) => c.ok !== null)
  return missed.length === 0 ? `✅ ${applied.length}/${applied.length}` : `❌ ${missed.map((c) => c.name).join(', ')}`
}

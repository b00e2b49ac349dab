// Small statistics and timing helpers shared by the benchmark phases.
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** Milliseconds taken by `fn`. */
export async function timeMs(fn: () => unknown): Promise<number> {
  const t = performance.now()
  await fn()
  return performance.now() - t
}

setFlagsFromString('--expose-gc')
const gcFn: unknown = runInNewContext('typeof gc === "function" ? gc : undefined')

/** A full garbage collection between timed runs, so one run's garbage is not billed to the next. */
export function collectGarbage(): void {
  if (typeof gcFn === 'function') (gcFn as () => void)()
}

export const MB = 1024 * 1024

// Waiting for what something outside the test's reach brings about (a watcher's rebuild, a
// worker picking up a job): the condition is polled, never a fixed sleep, and the wait is bounded,
// so a hang fails naming what it waited for instead of stalling the run.

export interface PollOptions {
  /** @default 30_000 */
  timeoutMs?: number
  /** @default 20 */
  intervalMs?: number
}

/** Polls `cond` until it holds: true when it did, false when `timeoutMs` passed first (the caller's assertions then say what was seen). */
export async function pollUntil(cond: () => boolean | Promise<boolean>, { timeoutMs = 30_000, intervalMs = 20 }: PollOptions = {}): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > end) return false
    await new Promise((r) => setTimeout(r, intervalMs))
  }
  return true
}

/** Polls `cond` until it holds; throws `timed out waiting for <what>` when `timeoutMs` passes first. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, options: PollOptions = {}): Promise<void> {
  if (!(await pollUntil(cond, options))) throw new Error(`timed out waiting for ${what}`)
}

/** How long a quantization runs quietly before its progress goes to the log. */
export const QUIET_MS = 2000

/**
 * Progress of one quantization for the bundler's logger. Most models take well under a second
 * and say nothing; once one has run for `quietMs`, its current stage is logged and every later
 * stage as it starts, so a long calibration or accuracy search shows what it is doing.
 */
export function progressReporter(name: string, info: (message: string) => void, quietMs = QUIET_MS): { onProgress: (message: string) => void; done: () => void } {
  const started = Date.now()
  let latest: string | null = null
  let loud = false
  const print = (message: string) => info(`[unplugin-quantize] ${name}: ${message} (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  const timer = setTimeout(() => {
    loud = true
    if (latest !== null) print(latest)
  }, quietMs)
  // a pending progress line must not keep the process alive
  timer.unref()
  return {
    onProgress(message) {
      latest = message
      if (loud) print(message)
    },
    done() {
      clearTimeout(timer)
    },
  }
}

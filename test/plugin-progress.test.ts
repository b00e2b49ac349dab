// Long quantizations report progress through the bundler's logger: quiet for the first
// QUIET_MS (most models are done by then), then the current stage, then each stage as it starts.
// The plugins pass their own logger (Vite's logger or Rollup's `this.info`, webpack's and
// rspack's infrastructure logger, the console for esbuild and gulp); test/plugin-worker.test.ts
// checks the Vite dev server's log for a real long quantization.
import { afterEach, describe, expect, it, vi } from 'vitest'
import { progressReporter, QUIET_MS } from '../plugins/core/progress-reporter.js'

afterEach(() => {
  vi.useRealTimers()
})

describe('progress of long quantizations', () => {
  it('stays quiet for a short one', () => {
    vi.useFakeTimers()
    const lines: string[] = []
    const p = progressReporter('models/a.onnx', (m) => lines.push(m))
    p.onProgress('reading model')
    p.onProgress('quantizing weights to 8 bit')
    vi.advanceTimersByTime(QUIET_MS - 1)
    p.done()
    vi.advanceTimersByTime(QUIET_MS * 10)
    expect(lines).toEqual([])
  })

  it('reports the current stage once it runs long, then every later stage, naming the model', () => {
    vi.useFakeTimers()
    const lines: string[] = []
    const p = progressReporter('models/det.onnx', (m) => lines.push(m))
    p.onProgress('reading model')
    p.onProgress('measuring input means for bias correction')
    vi.advanceTimersByTime(QUIET_MS)
    expect(lines).toEqual([`[unplugin-quantize] models/det.onnx: measuring input means for bias correction (${(QUIET_MS / 1000).toFixed(1)} s)`])
    vi.advanceTimersByTime(1500)
    p.onProgress('verifying in onnxruntime-node')
    expect(lines[1]).toBe(`[unplugin-quantize] models/det.onnx: verifying in onnxruntime-node (${((QUIET_MS + 1500) / 1000).toFixed(1)} s)`)
    p.done()
    expect(lines).toHaveLength(2)
  })
})

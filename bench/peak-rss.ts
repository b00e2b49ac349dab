// Phase 2: peak RSS of one quantization, in a fresh child process per model and bit width.
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BitWidth } from './models.js'

export interface PeakRss {
  /** maxRSS when the child started, before its imports (a check that nothing was inherited), bytes */
  start: number
  /** maxRSS after imports, before the model is read, bytes */
  baseline: number
  /** maxRSS after the quantization, bytes */
  peak: number
  /** peak - baseline: what the quantization itself needed, bytes */
  delta: number
}

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'peak-rss-child.ts')

/**
 * What the child runs: `target` = quantizeModel's default path (verify off); `no-target` = the
 * engine alone (accuracy target and size report off); `sizes` = the engine plus the gzip/brotli
 * size report, so the report's share shows apart from the accuracy target's.
 */
export type PeakRssVariant = 'target' | 'no-target' | 'sizes'

/** Peak RSS of one quantization in a fresh process; `false` (= 'no-target') measures the rewrite without the ORT sensitivity pass. */
export function measurePeakRss(model: string, bits: BitWidth, variant: boolean | PeakRssVariant = true): Promise<PeakRss> {
  return new Promise((resolve, reject) => {
    // Linux carries a process's RSS high-water mark across execve, and a child forked from this
    // (large) process starts with this process's RSS: spawned directly, its maxRSS would begin at
    // ours. A shell in between forks the measured process from a small one (`; exit $?` keeps the
    // shell from exec'ing node in its own place).
    const script = '"$0" --import tsx "$1" "$2" "$3" "$4"; exit $?'
    const mode = variant === true ? 'target' : variant === false ? 'no-target' : variant
    const child = spawn('/bin/sh', ['-c', script, process.execPath, CHILD, model, String(bits), mode], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { err += d.toString() })
    child.on('error', reject)
    child.on('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? ''
      if (code !== 0 || !line.startsWith('{')) {
        reject(new Error(`peak-rss child for ${model} (${bits} bit) exited ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}`))
        return
      }
      const parsed = JSON.parse(line) as { start: number; baseline: number; peak: number }
      resolve({ start: parsed.start, baseline: parsed.baseline, peak: parsed.peak, delta: parsed.peak - parsed.baseline })
    })
  })
}

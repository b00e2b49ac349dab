import fs from 'node:fs'
import type { QuantizeReport } from '../../src/quantize-model.js'
import { formatBytes, formatDuration, ratio } from '../../src/report/html/format.js'
import { formatCosine, type ReportModel } from '../../src/report/html/render-report.js'
import type { ResolvedOptions } from './options.js'
import type { PreparedModel } from './model-inputs.js'
import type { ModelQuantizer } from './quantize-asset.js'
import { quantizeForBundler, type ModelOutcome } from './shared.js'

export { HTML_REPORT_FILE } from '../../src/report/html/report-file.js'

// The page itself is the engine's (src/report/html), so that the CLI writes the same report.
export { escapeHtml, formatBytes, formatDuration } from '../../src/report/html/format.js'
export { formatCosine, renderReportHtml, type ReportModel } from '../../src/report/html/render-report.js'

/** The build log's summary: one aligned row per model (model, emitted as, size, cosine, time, cache). */
export function summaryTable(models: readonly ReportModel[]): string {
  const head = ['model', 'emitted as', 'size before → after', 'cosine', 'time', 'cache']
  const rows = models.map((m) => [
    m.source,
    m.emitted ?? '–',
    `${formatBytes(m.sizeIn)} → ${formatBytes(m.sizeOut)} (${ratio(m.sizeIn, m.sizeOut)})`,
    formatCosine(m),
    m.report ? formatDuration(m.report.durationMs) : '–',
    m.status,
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

/** What a bundler collected about one model during the build, before it knows the emitted name. */
export interface CollectedModel {
  model: string
  configFile: string | null
  /** 'defaultConfig' when the cfg is the object form. */
  configLabel: string | null
  kind: 'quantized' | 'original' | 'failed'
  report: QuantizeReport | null
  sizeIn: number
  sizeOut: number
  /** null for models emitted unchanged. */
  cacheHit: boolean | null
  message: string | null
}

/** A build's model for the report, once the bundler has named its output. */
export function buildReportModel(c: CollectedModel, emitted: string | null, rel: (p: string) => string, cacheOverride?: string): ReportModel {
  const status = cacheOverride
    ?? (c.kind === 'quantized' ? (c.cacheHit ? 'cache hit' : 'cache miss') : c.kind === 'failed' ? 'failed (original emitted)' : 'no cfg (original)')
  return {
    source: rel(c.model),
    emitted,
    config: c.configFile ? rel(c.configFile) : c.configLabel,
    kind: c.kind,
    report: c.report,
    sizeIn: c.sizeIn,
    sizeOut: c.sizeOut,
    status,
    message: c.message,
  }
}

/** `quantizeForBundler` plus what the report needs. */
export async function quantizeAndCollect(quantizer: ModelQuantizer, prepared: PreparedModel, options: ResolvedOptions, root: string): Promise<{ outcome: ModelOutcome; collected: CollectedModel | null }> {
  const { model } = prepared
  const outcome = await quantizeForBundler(quantizer, prepared, options, root)
  if (!outcome.ok) return { outcome, collected: null }
  const { result, warning } = outcome
  let sizeIn = 0
  try {
    sizeIn = (await fs.promises.stat(model)).size
  } catch {
    // deleted meanwhile
  }
  const found = prepared.config
  const collected: CollectedModel = {
    model,
    configFile: found?.kind === 'file' ? found.path : null,
    configLabel: found?.kind === 'object' ? 'defaultConfig' : null,
    kind: result.kind === 'quantized' ? 'quantized' : warning ? 'failed' : 'original',
    report: result.kind === 'quantized' ? result.report : null,
    sizeIn: result.kind === 'quantized' ? result.report.sizeIn : sizeIn,
    sizeOut: result.bytes.byteLength,
    cacheHit: result.kind === 'quantized' ? result.cached : null,
    message: warning,
  }
  return { outcome, collected }
}

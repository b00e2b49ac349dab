import fs from 'node:fs'
import type { QuantizeReport } from '../../src/quantize-model.js'
import type { ResolvedOptions } from './options.js'
import type { ModelQuantizer } from './quantize-asset.js'
import { quantizeForBundler, type ModelOutcome } from './shared.js'

/** The build-wide HTML report's file name, at the root of the bundle. */
export const HTML_REPORT_FILE = 'quantize-report.html'

/** One model as the HTML report and the log summary show it (the build's and the dev server's). */
export interface ReportModel {
  /** The source path, relative to the project root. */
  source: string
  /** The emitted file name (a build) or URL (the dev server); null when nothing was emitted. */
  emitted: string | null
  /** The cfg relative to the root, 'defaultConfig' for an object, null for none. */
  config: string | null
  kind: 'quantized' | 'original' | 'failed'
  /** The engine's report for quantized models. */
  report: QuantizeReport | null
  sizeIn: number
  sizeOut: number
  /** 'cache hit', 'cache miss', 'no cfg (original)', … */
  status: string
  /** A warning or error message about this model (onError: 'warn', a failure). */
  message: string | null
  /** Extra links (the dev server's model and `.quant.json` URLs). */
  links?: readonly { label: string; href: string }[]
}

/** Escapes text for HTML element content and double- or single-quoted attributes. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** `1.5 KiB`, `2.31 MiB`. */
export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–'
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(2)} MiB`
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`
}

export function formatCosine(m: ReportModel): string {
  if (m.kind !== 'quantized' || !m.report) return '–'
  return typeof m.report.cosineSimilarity === 'number' ? m.report.cosineSimilarity.toFixed(6) : 'not verified'
}

/** `after / before` as a percentage (`23.4%`), '–' when undefined. */
function ratio(before: number | null | undefined, after: number | null | undefined): string {
  if (typeof before !== 'number' || typeof after !== 'number' || before <= 0) return '–'
  return `${((after / before) * 100).toFixed(1)}%`
}

/** A small inline SVG bar; `fraction` is clamped to [0, 1]. */
function bar(fraction: number, width: number, color: string, label: string): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0
  const w = Math.max(f > 0 ? 1 : 0, Math.round(f * width))
  return `<svg class="bar" width="${width}" height="10" viewBox="0 0 ${width} 10" role="img" aria-label="${escapeHtml(label)}"><rect width="${width}" height="10" fill="#eee"/><rect width="${w}" height="10" fill="${color}"/></svg>`
}

function sizeRows(m: ReportModel): string {
  const r = m.report
  const rows: [string, number | null | undefined, number | null | undefined][] = r
    ? [['raw', r.sizesIn.raw, r.sizesOut.raw], ['gzip', r.sizesIn.gzip, r.sizesOut.gzip], ['brotli', r.sizesIn.brotli, r.sizesOut.brotli]]
    : [['raw', m.sizeIn, m.sizeOut]]
  return rows.map(([label, before, after]) => {
    const pct = ratio(before, after)
    const fraction = typeof before === 'number' && typeof after === 'number' && before > 0 ? after / before : 0
    return `<tr><th>${label}</th><td class="num">${formatBytes(before)}</td><td>→</td><td class="num">${formatBytes(after)}</td><td class="num">${pct}</td><td>${bar(fraction, 160, '#3a7bd5', `${label} after / before: ${pct}`)}</td></tr>`
  }).join('')
}

function layerTable(r: QuantizeReport): string {
  if (r.layers.length === 0) return ''
  const layers = [...r.layers].sort((a, b) => b.relativeError - a.relativeError)
  const max = layers[0]!.relativeError || 1
  const rows = layers.map((l) => {
    const ops = [...new Set(l.nodes.map((n) => n.opType))].join(', ')
    const nodes = l.nodes.map((n) => n.name).join(', ')
    return `<tr><td class="mono">${escapeHtml(l.tensor)}</td><td>${escapeHtml(ops)}<div class="sub mono">${escapeHtml(nodes)}</div></td><td class="num">${l.bits}</td><td class="num">${l.relativeError.toPrecision(4)}</td><td>${bar(l.relativeError / max, 100, '#d5803a', `relative error ${l.relativeError.toPrecision(4)}`)}</td></tr>`
  }).join('\n')
  return `<details><summary>${r.layers.length} quantized weight${r.layers.length === 1 ? '' : 's'}, by relative error</summary>
<table class="layers"><thead><tr><th>tensor</th><th>op (nodes)</th><th>bits</th><th>relative error</th><th></th></tr></thead><tbody>
${rows}
</tbody></table></details>`
}

function modelSection(m: ReportModel, index: number): string {
  const r = m.report
  const facts: [string, string][] = [
    ['emitted as', m.emitted === null ? '–' : escapeHtml(m.emitted)],
    ['cfg', escapeHtml(m.config ?? 'none')],
  ]
  if (r) {
    facts.push(['quantization', `${escapeHtml(r.quantType)} ${r.bitNum}-bit`])
    facts.push(['cosine similarity', escapeHtml(formatCosine(m))])
    facts.push(['time', escapeHtml(formatDuration(r.durationMs))])
  }
  facts.push(['cache', escapeHtml(m.status)])
  if (r) {
    facts.push(['nodes', `${r.nodesQuantized} quantized, ${r.nodesSkipped} skipped`])
    if (r.biasCorrected > 0) facts.push(['bias corrections', String(r.biasCorrected)])
    if (r.accuracy && r.accuracy.escalated.length > 0) {
      facts.push(['escalated weights', `${r.accuracy.escalated.length} to ${r.accuracy.escalatedBits}-bit: <span class="mono">${escapeHtml(r.accuracy.escalated.join(', '))}</span>`])
    }
    if (r.accuracy) {
      facts.push(['accuracy target', `${r.accuracy.target} (${r.accuracy.reached ? 'reached' : 'not reached'}; cosine ${r.accuracy.cosineBefore.toFixed(6)} → ${r.accuracy.cosineAfter.toFixed(6)}, ${escapeHtml(r.accuracy.inputs)} inputs)`])
    }
  }
  if (m.links && m.links.length > 0) {
    facts.push(['files', m.links.map((l) => `<a href="${escapeHtml(l.href)}">${escapeHtml(l.label)}</a>`).join(' · ')])
  }
  const failed = m.kind === 'failed'
  const warnings = [...(m.message && !failed ? [m.message] : []), ...(r?.warnings ?? [])]
  return `<section id="m${index}">
<h2 class="mono">${escapeHtml(m.source)}</h2>
<table class="facts"><tbody>${facts.map(([k, v]) => `<tr><th>${k}</th><td>${v}</td></tr>`).join('')}</tbody></table>
${failed && m.message ? `<p class="err">${escapeHtml(m.message)}</p>` : ''}
${m.emitted === null ? '' : `<table class="sizes"><thead><tr><th>size</th><th>before</th><th></th><th>after</th><th>ratio</th><th></th></tr></thead><tbody>${sizeRows(m)}</tbody></table>`}
${warnings.length > 0 ? `<ul class="warn">${warnings.map((w) => `<li>${escapeHtml(w)}</li>`).join('')}</ul>` : ''}
${r ? layerTable(r) : ''}
</section>`
}

function overviewRow(m: ReportModel, index: number): string {
  return `<tr><td class="mono"><a href="#m${index}">${escapeHtml(m.source)}</a></td><td class="mono">${escapeHtml(m.emitted ?? '–')}</td><td class="num">${formatBytes(m.sizeIn)}</td><td class="num">${formatBytes(m.sizeOut)}</td><td class="num">${ratio(m.sizeIn, m.sizeOut)}</td><td>${escapeHtml(formatCosine(m))}</td><td>${m.report ? escapeHtml(formatDuration(m.report.durationMs)) : '–'}</td><td>${escapeHtml(m.status)}</td></tr>`
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:72em}
h1{font-size:1.4em}h2{font-size:1.1em;margin:1.6em 0 .4em;word-break:break-all}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6;font-weight:600}.facts th{width:11em}.num{text-align:right;font-variant-numeric:tabular-nums}
.mono{font-family:ui-monospace,monospace;font-size:.92em}.sub{color:#777;font-size:.85em}
.warn{color:#8a5300}.err{color:#b00;white-space:pre-wrap}.bar{vertical-align:middle}
section{border-top:1px solid #ccc}details{margin:.6em 0}summary{cursor:pointer}`

/**
 * The self-contained HTML page (inline CSS, no script, no external reference) shared by the
 * build's `quantize-report.html` and the dev server's `/__quantize/` index.
 */
export function renderReportHtml(models: readonly ReportModel[], page: { title?: string; empty?: string } = {}): string {
  const title = page.title ?? 'unplugin-quantize'
  const body = models.length === 0
    ? `<p>${escapeHtml(page.empty ?? 'No model was quantized.')}</p>`
    : `<table class="overview"><thead><tr><th>model</th><th>emitted as</th><th>size before</th><th>size after</th><th>ratio</th><th>cosine</th><th>time</th><th>cache</th></tr></thead><tbody>
${models.map(overviewRow).join('\n')}
</tbody></table>
${models.map(modelSection).join('\n')}`
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head><body><h1>${escapeHtml(title)}</h1>
${body}
</body></html>
`
}

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
export async function quantizeAndCollect(quantizer: ModelQuantizer, model: string, options: ResolvedOptions, root: string): Promise<{ outcome: ModelOutcome; collected: CollectedModel | null }> {
  const outcome = await quantizeForBundler(quantizer, model, options, root)
  if (!outcome.ok) return { outcome, collected: null }
  const { result, warning } = outcome
  let sizeIn = 0
  try {
    sizeIn = (await fs.promises.stat(model)).size
  } catch {
    // deleted meanwhile
  }
  const found = quantizer.configOf(model)
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

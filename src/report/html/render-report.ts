import type { QuantizeReport } from '../../quantize-model.js'
import type { DebugSummary } from '../debug-csv/debug-summary.js'
import type { Recommendation } from '../debug-csv/recommendations.js'
import type { GuardReport } from '../../guard/accuracy-guard.js'
import { escapeHtml, formatBytes, formatDuration, ratio } from './format.js'
import { bar, bitsLegend, histogramSvg, layerChart } from './svg-charts.js'

/** One model as the HTML report shows it (a plugin build's, the dev server's or the CLI's). */
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

export function formatCosine(m: ReportModel): string {
  if (m.kind !== 'quantized' || !m.report) return '–'
  return typeof m.report.cosineSimilarity === 'number' ? m.report.cosineSimilarity.toFixed(6) : 'not verified'
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

const KIND_LABEL: Record<Recommendation['kind'], string> = {
  'clip': 'high clip',
  'range-mismatch': 'input ranges differ',
  'low-cosine': 'low cosine',
}

function recommendations(d: DebugSummary): string {
  if (d.recommendations.length === 0) return '<p class="ok">No layer stands out: no high Clip, no mismatched Add/Concat inputs, no low-cosine layer.</p>'
  const items = d.recommendations.map((r) => `<li><span class="tag tag-${r.kind}">${KIND_LABEL[r.kind]}</span> <span class="mono">${escapeHtml(r.node)}</span> (${escapeHtml(r.opType)}): ${escapeHtml(r.reason)}${r.line ? `<pre class="line">${escapeHtml(r.line)}</pre>` : ''}</li>`).join('\n')
  return `<ul class="recs">
${items}
</ul>${d.skipLine ? `<p>All of them at once:</p><pre class="line">${escapeHtml(d.skipLine)}</pre>` : ''}`
}

function debugSection(d: DebugSummary): string {
  const cos = new Map(d.layers.map((l) => [l.tensor, l.cosine]))
  const hists = d.histograms.map((h) => histogramSvg(h, h.kind === 'output' ? cos.get(h.tensor) ?? null : null)).join('\n')
  return `<h3>Per layer</h3>
<p class="sub">Measured on ${d.rounds} ${escapeHtml(d.inputs)} input sample${d.rounds === 1 ? '' : 's'}, every tensor of the float and the quantized model compared by name.</p>
${d.layers.length ? layerChart(d.layers) + bitsLegend(d.layers) : '<p>No layer output could be compared.</p>'}
<h3>Recommendations</h3>
${recommendations(d)}
${hists ? `<h3>Worst layers: original (grey) vs dequantized (blue) values</h3><div class="hists">${hists}</div>` : ''}`
}

function guardSection(g: GuardReport): string {
  const rows = g.steps.map((s, i) => `<tr><td class="num">${i}</td><td class="num">${s.skipped.length}</td><td class="num">${s.cosine.toFixed(6)}</td><td>${s.cosine >= g.minCosine ? 'reached' : 'below'}</td><td class="mono sub">${escapeHtml(s.skipped.join(', ') || '–')}</td></tr>`).join('')
  return `<h3>Accuracy guard</h3>
<p>min_cosine ${g.minCosine} on ${g.heldOutSamples} held-out sample${g.heldOutSamples === 1 ? '' : 's'} (calibrated on ${g.calibrationSamples}): ${g.cosineBefore.toFixed(6)} → ${g.cosineAfter.toFixed(6)}, ${g.skipped.length} node${g.skipped.length === 1 ? '' : 's'} returned to float.</p>
${g.skipLine ? `<pre class="line">${escapeHtml(g.skipLine)}</pre>` : ''}
<table class="steps"><thead><tr><th>step</th><th>in float</th><th>cosine</th><th></th><th>nodes</th></tr></thead><tbody>${rows}</tbody></table>`
}

function modelSection(m: ReportModel, index: number): string {
  const r = m.report
  const facts: [string, string][] = [
    ['emitted as', m.emitted === null ? '–' : escapeHtml(m.emitted)],
    ['cfg', escapeHtml(m.config ?? 'none')],
  ]
  if (r) {
    facts.push(['quantization', `${escapeHtml(r.quantType)} ${r.bitNum}-bit`])
    const v = r.verification
    const on = v && v.cosine !== null ? ` on ${v.samples} ${v.inputs} input sample${v.samples === 1 ? '' : 's'}` : ''
    facts.push(['cosine similarity', escapeHtml(`${formatCosine(m)}${on}`)])
    if (v && v.nativeInt8Cosine !== null && v.nativeInt8Cosine !== undefined) {
      facts.push(['int8 kernels of this CPU', escapeHtml(`${v.nativeInt8Cosine.toFixed(6)}: onnxruntime-node here saturates int8 sums (no VNNI); the cosine above is the model as its ops define it, as onnxruntime-web runs it`)])
    }
    if (r.debug && r.debug.outputs.length > 1) {
      facts.push(['outputs', r.debug.outputs.map((o) => `<span class="mono">${escapeHtml(o.tensor)}</span> ${o.cosine.toFixed(6)}`).join(' · ')])
    }
    facts.push(['time', escapeHtml(formatDuration(r.durationMs))])
  }
  facts.push(['cache', escapeHtml(m.status)])
  if (r) {
    facts.push(['nodes', `${r.nodesQuantized} quantized, ${r.nodesSkipped} skipped`])
    if (r.biasCorrected > 0) facts.push(['bias corrections', String(r.biasCorrected)])
    if (r.accuracy && r.accuracy.escalated.length > 0) {
      const list = r.accuracy.escalated.map((n) => `${n} (${r.accuracy!.widths?.[n] ?? r.accuracy!.escalatedBits}-bit)`).join(', ')
      facts.push(['escalated weights', `${r.accuracy.escalated.length} widened: <span class="mono">${escapeHtml(list)}</span>`])
    }
    // mixed bit's guard may also give a weight a finer relative error than init_scale
    const finer = r.mixedBit?.layers.filter((l) => l.refinedTo !== null) ?? []
    if (finer.length > 0) {
      facts.push(['finer steps', `${finer.length} weight${finer.length === 1 ? '' : 's'}: <span class="mono">${finer.map((l) => escapeHtml(`${l.tensor} (relative error ${l.refinedTo})`)).join(', ')}</span>`])
    }
    if (r.accuracy) {
      const a = r.accuracy
      const verified = a.reachedInVerification === true ? '; reached in verification' : a.reachedInVerification === false ? '; <strong>missed in verification</strong>' : ''
      facts.push(['accuracy target', `${a.target} (${a.reached ? 'reached' : 'not reached'} on ${escapeHtml(a.inputs)} inputs: cosine ${a.cosineBefore.toFixed(6)} → ${a.cosineAfter.toFixed(6)}${verified})`])
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
${r?.guard ? guardSection(r.guard) : ''}
${r?.debug ? debugSection(r.debug) : ''}
${r ? layerTable(r) : ''}
</section>`
}

function overviewRow(m: ReportModel, index: number): string {
  return `<tr><td class="mono"><a href="#m${index}">${escapeHtml(m.source)}</a></td><td class="mono">${escapeHtml(m.emitted ?? '–')}</td><td class="num">${formatBytes(m.sizeIn)}</td><td class="num">${formatBytes(m.sizeOut)}</td><td class="num">${ratio(m.sizeIn, m.sizeOut)}</td><td>${escapeHtml(formatCosine(m))}</td><td>${m.report ? escapeHtml(formatDuration(m.report.durationMs)) : '–'}</td><td>${escapeHtml(m.status)}</td></tr>`
}

const STYLE = `body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;max-width:72em}
h1{font-size:1.4em}h2{font-size:1.1em;margin:1.6em 0 .4em;word-break:break-all}h3{font-size:1em;margin:1.2em 0 .3em}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f6f6;font-weight:600}.facts th{width:11em}.num{text-align:right;font-variant-numeric:tabular-nums}
.mono{font-family:ui-monospace,monospace;font-size:.92em}.sub{color:#777;font-size:.85em}
.warn{color:#8a5300}.err{color:#b00;white-space:pre-wrap}.ok{color:#188038}.bar{vertical-align:middle}
section{border-top:1px solid #ccc}details{margin:.6em 0}summary{cursor:pointer}
.chart{display:block;max-width:100%;height:auto}.tick{font-size:10px;fill:#666}
.legend{font-size:.85em;color:#555}.swatch{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:middle}
.recs li{margin:.4em 0}.tag{font-size:.8em;padding:1px 6px;border-radius:3px;color:#fff;background:#777}
.tag-clip{background:#c5221f}.tag-range-mismatch{background:#9334e6}.tag-low-cosine{background:#e8710a}
pre.line{background:#f3f6fb;border:1px solid #d5deeb;padding:4px 8px;margin:.3em 0;white-space:pre-wrap;word-break:break-all;user-select:all}
.hists{display:flex;flex-wrap:wrap;gap:12px}.hist{margin:0}.hist figcaption{font-size:.85em;max-width:300px;word-break:break-all}`

/**
 * The self-contained HTML page (inline CSS and SVG, no script, no external reference) shared
 * by the plugins' `quantize-report.html`, the dev server's `/__quantize/` index and the CLI's
 * `--report-dir`.
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

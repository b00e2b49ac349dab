import type { LayerDebug, LayerHistogram } from '../debug-csv/debug-summary.js'
import { escapeHtml, short } from './format.js'

/** A small inline SVG bar; `fraction` is clamped to [0, 1]. */
export function bar(fraction: number, width: number, color: string, label: string): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0
  const w = Math.max(f > 0 ? 1 : 0, Math.round(f * width))
  return `<svg class="bar" width="${width}" height="10" viewBox="0 0 ${width} 10" role="img" aria-label="${escapeHtml(label)}"><rect width="${width}" height="10" fill="#eee"/><rect width="${w}" height="10" fill="${color}"/></svg>`
}

/** What colours a layer: its weight's width, else whether it touches quantized activations. */
export type LayerKind = number | 'activations' | null

export const layerKind = (l: LayerDebug): LayerKind => l.bits ?? (l.quantized ? 'activations' : null)

/** Float grey, quantized activations only purple, 8-bit weight blue, below 8 orange, above 8 green. */
export function bitsColor(kind: LayerKind): string {
  if (kind === null) return '#9aa0a6'
  if (kind === 'activations') return '#9334e6'
  return kind < 8 ? '#e8710a' : kind === 8 ? '#1a73e8' : '#188038'
}

const kindLabel = (k: LayerKind) => (k === null ? 'float' : k === 'activations' ? 'quantized activations' : `${k}-bit weight`)

const MAX_NINES = 7

/** "Nines" of a cosine, -log10(1 - cos) capped at 7: 0.99 is 2, 0.9999 is 4. */
export function nines(cos: number): number {
  if (!Number.isFinite(cos)) return 0
  if (cos >= 1) return MAX_NINES
  return Math.min(MAX_NINES, Math.max(0, -Math.log10(1 - cos)))
}

/**
 * Per-layer chart, in graph order: bar height is the output cosine vs fp32 on a nines scale
 * (taller is closer), bar colour the width of the weight the layer reads. Each bar's <title>
 * names the layer, so hovering tells which one it is without any script.
 */
export function layerChart(layers: readonly LayerDebug[]): string {
  const n = layers.length
  const step = Math.max(3, Math.min(14, Math.floor(900 / Math.max(1, n))))
  // wide enough for the caption even with a handful of layers
  const plotW = Math.max(n * step, 420)
  const left = 44
  const top = 8
  const plotH = 150
  const width = left + plotW + 8
  const height = top + plotH + 34
  const y = (v: number) => top + plotH - (v / MAX_NINES) * plotH
  const ticks = [1, 2, 3, 4, 5, 6].map((k) => `<line x1="${left}" x2="${left + plotW}" y1="${y(k).toFixed(1)}" y2="${y(k).toFixed(1)}" stroke="#e3e3e3"/><text x="${left - 4}" y="${(y(k) + 3).toFixed(1)}" text-anchor="end" class="tick">${(1 - 10 ** -k).toFixed(k)}</text>`).join('')
  const bars = layers.map((l, i) => {
    const h = (nines(l.cosine) / MAX_NINES) * plotH
    const x = left + i * step
    const tip = `${l.node || '(unnamed)'} (${l.opType}) cosine ${l.cosine.toFixed(6)}, ${kindLabel(layerKind(l))}${l.clip > 0 ? `, clip ${(l.clip * 100).toFixed(2)}%` : ''}`
    return `<g><title>${escapeHtml(tip)}</title><rect x="${x}" y="${(top + plotH - h).toFixed(1)}" width="${Math.max(1, step - 1)}" height="${Math.max(0.5, h).toFixed(1)}" fill="${bitsColor(layerKind(l))}"/><rect x="${x}" y="${top + plotH + 4}" width="${Math.max(1, step - 1)}" height="6" fill="${bitsColor(layerKind(l))}"/></g>`
  }).join('')
  return `<svg class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="output cosine per layer">
${ticks}<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#999"/>${bars}
<text x="${left}" y="${height - 4}" class="tick">layers in graph order (${n}); bar height: output cosine vs fp32; colour: what is quantized</text>
</svg>`
}

/** Legend for the layer colours present. */
export function bitsLegend(layers: readonly LayerDebug[]): string {
  const order = (k: LayerKind) => (typeof k === 'number' ? k : k === 'activations' ? 90 : 99)
  const uniq = [...new Set(layers.map(layerKind))].sort((a, b) => order(a) - order(b))
  return `<p class="legend">${uniq.map((k) => `<span class="swatch" style="background:${bitsColor(k)}"></span>${kindLabel(k)}`).join(' ')}</p>`
}

/**
 * Original (grey, filled) vs dequantized (blue outline) value counts of one tensor over their
 * joint range; counts on a square-root scale so the tails, where clipping shows, stay visible.
 */
export function histogramSvg(h: LayerHistogram, cosine: number | null): string {
  const width = 300
  const height = 120
  const pad = 16
  const bins = h.origin.length
  const bw = (width - 2 * pad) / bins
  const peak = Math.sqrt(Math.max(1, ...h.origin, ...h.dequant))
  const hy = (c: number) => (Math.sqrt(c) / peak) * (height - 2 * pad)
  const origin = h.origin.map((c, i) => `<rect x="${(pad + i * bw).toFixed(1)}" y="${(height - pad - hy(c)).toFixed(1)}" width="${Math.max(0.5, bw - 0.5).toFixed(1)}" height="${hy(c).toFixed(1)}" fill="#c7c7c7"/>`).join('')
  let path = `M${pad} ${height - pad}`
  h.dequant.forEach((c, i) => {
    const yy = (height - pad - hy(c)).toFixed(1)
    path += ` L${(pad + i * bw).toFixed(1)} ${yy} L${(pad + (i + 1) * bw).toFixed(1)} ${yy}`
  })
  path += ` L${width - pad} ${height - pad}`
  const title = `${h.node || '(unnamed)'} ${h.kind} ${h.tensor}`
  return `<figure class="hist"><svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(`histogram of ${title}`)}">
<title>${escapeHtml(title)}</title>${origin}<path d="${path}" fill="none" stroke="#1a73e8" stroke-width="1.2"/>
<line x1="${pad}" x2="${width - pad}" y1="${height - pad}" y2="${height - pad}" stroke="#999"/>
<text x="${pad}" y="${height - 3}" class="tick">${escapeHtml(short(h.lo))}</text><text x="${width - pad}" y="${height - 3}" text-anchor="end" class="tick">${escapeHtml(short(h.hi))}</text>
</svg><figcaption><span class="mono">${escapeHtml(h.node || '(unnamed)')}</span> ${h.kind === 'weight' ? 'weight' : 'output'} <span class="mono sub">${escapeHtml(h.tensor)}</span>${cosine === null ? '' : ` · cosine ${cosine.toFixed(6)}`}</figcaption></figure>`
}

// Markdown tables (aligned, so they read the same in a terminal) and number formatting.

export type Cell = string | number

export function renderTable(headers: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const text = rows.map((r) => r.map(String))
  const width = headers.map((h, i) => Math.max(displayWidth(h), ...text.map((r) => displayWidth(r[i] ?? ''))))
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c + ' '.repeat(width[i]! - displayWidth(c))).join(' | ')} |`
  return [line(headers), `|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...text.map(line)].join('\n')
}

// ✅, ❌ and ⚠️ take two terminal columns; the variation selector after ⚠ takes none
function displayWidth(s: string): number {
  let w = 0
  for (const ch of s) w += ch === '✅' || ch === '❌' || ch === '⚠' ? 2 : ch === '\uFE0F' ? 0 : 1
  return w
}

export const mark = (ok: boolean): string => (ok ? '✅' : '❌')
export const fixed = (x: number, digits: number): string => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a')
export const mb = (bytes: number): string => fixed(bytes / (1024 * 1024), 2)
export const ms = (x: number): string => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3))
export const pct = (x: number): string => `${(x * 100).toFixed(1)}%`
export const ratio = (x: number): string => `${fixed(x, 2)}x`
/** How many escalated weights went to each width: "9 bit x5, 12 bit x2", or "none". */
export function widthCounts(widths: Readonly<Record<string, number>>): string {
  const counts = new Map<number, number>()
  for (const b of Object.values(widths)) counts.set(b, (counts.get(b) ?? 0) + 1)
  return counts.size ? [...counts].sort((a, b) => a[0] - b[0]).map(([b, n]) => `${b} bit x${n}`).join(', ') : 'none'
}

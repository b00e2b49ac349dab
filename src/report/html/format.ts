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

/** `after / before` as a percentage (`23.4%`), '–' when undefined. */
export function ratio(before: number | null | undefined, after: number | null | undefined): string {
  if (typeof before !== 'number' || typeof after !== 'number' || before <= 0) return '–'
  return `${((after / before) * 100).toFixed(1)}%`
}

/** A number short enough for a label: 4 significant digits, no trailing zeros. */
export const short = (x: number): string => (Number.isFinite(x) ? String(Number(x.toPrecision(4))) : String(x))

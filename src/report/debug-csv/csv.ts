/**
 * One CSV field (RFC 4180): quoted when it holds a comma, a quote, a line break or edge spaces
 * (node names like `conv,1` or `/model/"a"/Conv` are real), with quotes doubled.
 */
export function csvField(value: string | number): string {
  const s = typeof value === 'number' ? formatNumber(value) : value
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

export function csvLine(fields: readonly (string | number)[]): string {
  return fields.map(csvField).join(',')
}

/** Rows joined with CRLF (RFC 4180), header first, ending in a line break. */
export function csvText(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  return [header, ...rows].map(csvLine).join('\r\n') + '\r\n'
}

/** The shortest text that reads back as the same double; NaN and infinities spelled as such. */
export function formatNumber(x: number): string {
  if (Number.isNaN(x)) return 'NaN'
  if (x === Infinity) return 'inf'
  if (x === -Infinity) return '-inf'
  return String(x)
}


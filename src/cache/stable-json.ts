/** A JSON value; what `stableJson` accepts and what may go into a cache key. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue | undefined }

/**
 * JSON with object keys sorted at every depth, so equal values give equal text whatever order
 * their keys were built in. Keys whose value is undefined are left out, as JSON.stringify does.
 * Anything JSON cannot round-trip (NaN, functions, class instances, undefined in arrays) throws,
 * naming where it is: silently dropping it would let two different configs share a key.
 */
export function stableJson(value: unknown, where = 'value'): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`${where} is ${value}, which JSON cannot hold`)
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) {
    return `[${value.map((v, i) => stableJson(v, `${where}[${i}]`)).join(',')}]`
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value) as unknown
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`${where} is a ${(value as object).constructor?.name ?? 'non-plain object'}, not a plain object`)
    }
    const record = value as Record<string, unknown>
    const parts: string[] = []
    for (const key of Object.keys(record).sort()) {
      if (record[key] === undefined) continue
      parts.push(`${JSON.stringify(key)}:${stableJson(record[key], `${where}.${key}`)}`)
    }
    return `{${parts.join(',')}}`
  }
  throw new TypeError(`${where} is ${value === undefined ? 'undefined' : `a ${typeof value}`}, which JSON cannot hold`)
}

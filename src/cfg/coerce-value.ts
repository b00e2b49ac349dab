import { parseCalibratePath } from './calibrate-path.js'
import { CfgError, location } from './cfg-error.js'
import { nearestName } from './nearest-name.js'
import type { RawEntry, RawValue } from './raw-cfg.js'
import { foreignPathProblem, resolveDir } from './resolve-dir.js'
import { describeAllowed, type CfgKeySpec, type EnumKeySpec, type VectorKeySpec } from './schema.js'
import type { CalibrationSource, QuantType } from './types.js'

/** A validated value, tagged with the schema type that produced it. */
export type Coerced =
  | { type: 'enum'; value: string }
  | { type: 'int'; value: number }
  | { type: 'float'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'list'; value: string[] }
  | { type: 'path'; value: string | null }
  | { type: 'calibrate-path'; value: CalibrationSource[] }
  | { type: 'vector'; value: number[] }

export interface CoerceContext {
  source: string
  baseDir: string
  /** Narrows bit_num; null while quant_type itself is being coerced. */
  quantType: QuantType | null
}

const INTEGER = /^[+-]?\d+$/
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/
const BOOLEANS: Readonly<Record<string, boolean>> = { true: true, false: false, '1': true, '0': false }

/** Longest value echoed whole in a message. */
const SHOWN = 120

/**
 * The value as the user wrote it, for messages: invisible characters (a zero-width space pasted
 * in, an escape sequence) spelled out as \u{...} so that the value does not look like the name
 * it is refused for, and a long value cut.
 */
export function showValue(value: unknown): string {
  const text = Array.isArray(value) ? `[${value.join(', ')}]` : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)
  // cut between code points, not inside a surrogate pair
  const points = text.length > SHOWN ? [...text] : null
  const shown = points && points.length > SHOWN ? `${points.slice(0, SHOWN).join('')}… (${points.length} characters)` : text
  return shown.replace(/[\p{Cc}\p{Cf}]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`)
}

/** Throws a CfgError shaped like `model.cfg:3: bit_num=9 is not allowed for FULL_QUANT; allowed: 8`. */
export function rejectValue(entry: RawEntry, ctx: { source: string }, problem: string, allowed: string): never {
  const value = showValue(entry.value)
  throw new CfgError(`${location(ctx.source, entry.line)}${entry.key}=${value} ${problem}; allowed: ${allowed}`, {
    file: ctx.source,
    line: entry.line,
    key: entry.key,
    value,
    allowed,
  })
}

export function coerceValue(spec: CfgKeySpec, entry: RawEntry, ctx: CoerceContext): Coerced {
  const allowed = describeAllowed(spec, ctx.quantType ?? undefined)
  const fail = (problem: string): never => rejectValue(entry, ctx, problem, allowed)
  const raw = entry.value
  if (!isRawValue(raw)) return fail(`has an unsupported value type (${describeType(raw)})`)
  const text = typeof raw === 'string' ? raw.trim() : null

  switch (spec.type) {
    case 'enum': {
      if (text === null || text === '') return fail(text === '' ? 'has no value' : 'is not one of the allowed names')
      return { type: 'enum', value: coerceEnum(spec, text, fail) }
    }
    case 'int': {
      if (text === '') return fail('has no value')
      const n = typeof raw === 'number' ? raw : text !== null && INTEGER.test(text) ? Number(text) : NaN
      if (!Number.isInteger(n)) return fail('is not an integer')
      const [min, max] = spec.byQuantType && ctx.quantType ? spec.byQuantType[ctx.quantType] : [spec.min, spec.max]
      if (n < min || n > max) {
        return fail(spec.byQuantType && ctx.quantType ? `is not allowed for ${ctx.quantType}` : 'is out of range')
      }
      return { type: 'int', value: n }
    }
    case 'float': {
      if (text === '') return fail('has no value')
      const n = typeof raw === 'number' ? raw : text !== null && DECIMAL.test(text) ? Number(text) : NaN
      if (!Number.isFinite(n)) return fail('is not a number')
      const inside = spec.open ? n > spec.min && n < spec.max : n >= spec.min && n <= spec.max
      if (!inside) return fail('is out of range')
      return { type: 'float', value: n }
    }
    case 'bool': {
      const key = text !== null ? text.toLowerCase() : Array.isArray(raw) ? null : String(raw)
      if (key === null || !Object.hasOwn(BOOLEANS, key)) return fail('is not a boolean')
      return { type: 'bool', value: BOOLEANS[key] }
    }
    case 'list': {
      if (Array.isArray(raw) || typeof raw === 'boolean') return fail('is not a comma-separated list')
      const names = String(raw)
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== '')
      return { type: 'list', value: names }
    }
    case 'path': {
      if (text === null) return fail('is not a path')
      const foreign = foreignPathProblem(text)
      if (foreign) return fail(`is ${foreign}`)
      return { type: 'path', value: text === '' ? null : resolveDir(text, ctx.baseDir) }
    }
    case 'calibrate-path': {
      if (text === null) return fail('is not a path list')
      const parsed = parseCalibratePath(text, ctx.baseDir)
      if (!parsed.ok) return fail(parsed.problem)
      return { type: 'calibrate-path', value: parsed.sources }
    }
    case 'vector':
      return { type: 'vector', value: coerceVector(spec, raw, text, fail) }
  }
}

function coerceEnum(spec: EnumKeySpec, text: string, fail: (problem: string) => never): string {
  if (spec.values.includes(text)) return text
  const alias = spec.aliases && Object.hasOwn(spec.aliases, text) ? spec.aliases[text] : undefined
  if (alias !== undefined) return alias
  // Case matters in this format (MindSpore compares exactly), but a case slip deserves a hint.
  const guess = nearestName(text, spec.values)
  return fail(guess ? `is not allowed (did you mean '${guess}'?)` : 'is not allowed')
}

function coerceVector(spec: VectorKeySpec, raw: RawValue, text: string | null, fail: (problem: string) => never): number[] {
  let values: number[]
  if (Array.isArray(raw)) {
    values = raw
  } else {
    const list = text === null ? null : /^\[(.*)\]$/.exec(text)
    if (!list) return fail('is not a bracketed list')
    const items = list[1].trim() === '' ? [] : list[1].split(',').map((item) => item.trim())
    const bad = items.find((item) => !DECIMAL.test(item))
    if (bad !== undefined) return fail(`contains '${bad}', which is not a number`)
    values = items.map(Number)
  }
  if (!values.every((v) => typeof v === 'number' && Number.isFinite(v))) return fail('contains a value that is not a number')
  if (!spec.lengths.includes(values.length)) {
    return fail(`has ${values.length} value${values.length === 1 ? '' : 's'}`)
  }
  if (spec.nonZero && values.includes(0)) return fail('contains 0, which would divide by zero')
  return values
}

// Object configs come from JavaScript callers too, where the declared type is only a hope.
function isRawValue(value: unknown): value is RawValue {
  return (
    typeof value === 'string' ||
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    (Array.isArray(value) && value.every((item) => typeof item === 'number'))
  )
}

function describeType(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'array with non-numbers'
  return typeof value
}

import { CfgError, location } from './cfg-error.js'
import type { RawCfg, RawEntry, RawSection } from './raw-cfg.js'
import { sectionsOfKey } from './schema.js'

// The line scan, not the `ini` package, is what the parser trusts. ini cannot report line
// numbers, silently lets a repeated key win, cuts a value at any `#` or `;` (so
// `calibrate_path=/data/run#3` loses its tail) and unescapes backslashes (so `\\server\share`
// becomes `\server\share`). For ordinary files both agree; the tests hold them to that.

const COMMENT_START = /^[#;]/
// A trailing comment needs whitespace before it: `a #b` has one, `a#b` is a value.
const TRAILING_COMMENT = /\s[#;]/
const ONLY_COMMENT = /^\s*(?:[#;].*)?$/

/** Sections and `key=value` lines of a cfg text, with line numbers. Values are still strings. */
export function scanCfg(text: string, source: string, baseDir: string): RawCfg {
  const sections: RawSection[] = []
  const entries: RawEntry[] = []
  const seen = new Map<string, RawEntry>()
  let section: string | null = null

  // No BOM handling needed: trim() already removes U+FEFF.
  const lines = text.split(/\r\n|\r|\n/)
  lines.forEach((rawLine, index) => {
    const line = index + 1
    const trimmed = rawLine.trim()
    if (trimmed === '' || COMMENT_START.test(trimmed)) return

    if (trimmed.startsWith('[')) {
      const header = /^\[([^\]]*)\](.*)$/.exec(trimmed)
      if (!header || !ONLY_COMMENT.test(header[2])) {
        throw new CfgError(`${location(source, line)}malformed section header '${trimmed}'; expected [section_name]`, {
          file: source,
          line,
          value: trimmed,
          allowed: '[section_name]',
        })
      }
      section = header[1].trim()
      if (!sections.some((s) => s.name === section)) sections.push({ name: section, line })
      return
    }

    const eq = rawLine.indexOf('=')
    if (eq < 0) {
      throw new CfgError(`${location(source, line)}expected 'key=value' or '[section]', got '${trimmed}'`, {
        file: source,
        line,
        value: trimmed,
        allowed: 'key=value',
      })
    }
    const key = rawLine.slice(0, eq).trim()
    const value = decodeValue(rawLine.slice(eq + 1))
    if (key === '') {
      throw new CfgError(`${location(source, line)}missing key before '=' in '${trimmed}'`, {
        file: source,
        line,
        value,
        allowed: 'key=value',
      })
    }
    if (section === null) {
      const home = sectionsOfKey(key)[0]
      const hint = home ? `; put it under [${home}]` : '; put it under a [section] header'
      throw new CfgError(`${location(source, line)}key '${key}' is outside any section${hint}`, {
        file: source,
        line,
        key,
        value,
        allowed: home ? `[${home}]` : null,
      })
    }

    const id = `${section}\u0000${key}`
    const first = seen.get(id)
    if (first) {
      const allowed = 'each key once per section'
      throw new CfgError(
        `${location(source, line)}duplicate key '${key}' in [${section}] (lines ${first.line} and ${line}): ` +
          `${key}=${String(first.value)}, then ${key}=${value}; allowed: ${allowed}`,
        { file: source, line, key, value, allowed },
      )
    }
    const entry: RawEntry = { section, key, value, line }
    seen.set(id, entry)
    entries.push(entry)
  })

  return { source, baseDir, sections, entries }
}

/**
 * The value part of a `key=value` line: trailing comment removed, surrounding quotes removed
 * (ini and MindSpore both accept `"/path with spaces"`), no escape processing so Windows
 * paths survive.
 */
function decodeValue(afterEquals: string): string {
  const trimmed = afterEquals.trim()
  const quote = trimmed[0]
  if (quote === '"' || quote === "'") {
    const close = trimmed.indexOf(quote, 1)
    if (close > 0 && ONLY_COMMENT.test(trimmed.slice(close + 1))) return trimmed.slice(1, close)
  }
  const comment = TRAILING_COMMENT.exec(afterEquals)
  return (comment ? afterEquals.slice(0, comment.index) : afterEquals).trim()
}

import { nearestName } from './nearest-name.js'
import { rejectValue } from './coerce-value.js'
import type { RawCfg, RawEntry } from './raw-cfg.js'
import { allKeyNames, describeAllowed, keySpec, sectionNames, sectionSpec, sectionsOfKey } from './schema.js'

export type Warn = (line: number | null, key: string | null, text: string) => void

export interface ClassifiedEntries {
  /** Known keys in their own section, in input order. */
  accepted: RawEntry[]
  /**
   * Known keys written in the wrong (or an unknown) section: ignored, but kept so that a
   * "missing X" error can say where X was actually written.
   */
  strays: Map<string, RawEntry>
}

/**
 * Separates the entries the format knows from the ones it does not. Unknown sections and
 * keys are warnings, not errors: MindSpore grows keys between releases, and a cfg written
 * for a newer one should still run here.
 */
export function classifyEntries(raw: RawCfg, warn: Warn): ClassifiedEntries {
  const unknownSections = new Set<string>()
  for (const section of raw.sections) {
    if (sectionSpec(section.name)) continue
    unknownSections.add(section.name)
    warn(section.line, null, unknownSectionMessage(section.name))
  }

  const accepted: RawEntry[] = []
  const strays = new Map<string, RawEntry>()
  for (const entry of raw.entries) {
    if (keySpec(entry.section, entry.key)) {
      accepted.push(entry)
      continue
    }
    rejectArraySyntax(entry, raw.source)
    const homes = sectionsOfKey(entry.key)
    if (homes.length > 0 && !strays.has(entry.key)) strays.set(entry.key, entry)
    // An unknown section was already reported as a whole; a line per key would bury that.
    if (unknownSections.has(entry.section)) continue
    const text =
      homes.length > 0
        ? `key '${entry.key}' belongs in [${homes.join('], [')}], not [${entry.section}]; it is ignored here`
        : unknownKeyMessage(entry.key, entry.section)
    warn(entry.line, entry.key, text)
  }
  return { accepted, strays }
}

// `normalize_mean[]=...` is how ini spells arrays. This format has none, and treating it as
// an unknown key would quietly drop a value the user clearly meant to set.
function rejectArraySyntax(entry: RawEntry, source: string): void {
  if (!entry.key.endsWith('[]')) return
  const base = entry.key.slice(0, -2)
  const home = sectionsOfKey(base)[0]
  const spec = home ? keySpec(home, base) : undefined
  if (!spec) return
  rejectValue(entry, { source }, 'uses ini array syntax, which this format does not have', `${base}=${describeAllowed(spec)}`)
}

function unknownSectionMessage(name: string): string {
  const guess = nearestName(name, sectionNames())
  return guess
    ? `unknown section [${name}]; did you mean [${guess}]? Its keys are ignored`
    : `unknown section [${name}] is ignored; known sections: ${sectionNames().join(', ')}`
}

function unknownKeyMessage(key: string, section: string): string {
  const own = Object.keys(sectionSpec(section)?.keys ?? {})
  const guess = nearestName(key, own)
  if (guess) return `unknown key '${key}' in [${section}]; did you mean '${guess}'?`
  const elsewhere = nearestName(key, allKeyNames())
  if (elsewhere) {
    const homes = sectionsOfKey(elsewhere).join('], [')
    return `unknown key '${key}' in [${section}]; did you mean '${elsewhere}' (in [${homes}])?`
  }
  return `unknown key '${key}' in [${section}] is ignored; known keys there: ${own.join(', ')}`
}

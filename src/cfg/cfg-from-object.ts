import path from 'node:path'
import { CfgError } from './cfg-error.js'
import type { RawCfg, RawEntry, RawSection, RawValue } from './raw-cfg.js'
import { resolveCfg, type ResolveCfgOptions } from './resolve-cfg.js'
import type { CfgObject, QuantConfig } from './types.js'

/**
 * The object form of a cfg, for library and plugin users: the same sections, keys and
 * validation as a file, with `line` null in every message. Relative paths resolve against
 * `baseDir`.
 */
export function cfgFromObject(obj: CfgObject, baseDir: string, source = '<inline>', options: ResolveCfgOptions = {}): QuantConfig {
  if (!isPlainObject(obj)) {
    throw new CfgError(`${source}: a cfg object must map section names to objects of keys`, { file: source })
  }
  const sections: RawSection[] = []
  const entries: RawEntry[] = []
  for (const [section, keys] of Object.entries(obj)) {
    if (!isPlainObject(keys)) {
      throw new CfgError(`${source}: section [${section}] must be an object of keys`, { file: source, key: section })
    }
    sections.push({ name: section, line: null })
    for (const [key, value] of Object.entries(keys)) {
      // undefined (and null from JavaScript callers) means "not set", as an absent line would.
      if (value === undefined || value === null) continue
      // Left unchecked on purpose: coercion reports a wrong type with the key and the value.
      entries.push({ section, key, value: value satisfies RawValue, line: null })
    }
  }
  const raw: RawCfg = { source, baseDir: path.resolve(baseDir), sections, entries }
  return resolveCfg(raw, options)
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

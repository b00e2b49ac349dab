/**
 * What both input forms (a .cfg text, a plain object) are reduced to before validation, so
 * the two cannot drift apart: same checks, same defaults, only `line` differs (null for objects).
 */
export type RawValue = string | number | boolean | number[]

export interface RawEntry {
  section: string
  key: string
  value: RawValue
  line: number | null
}

export interface RawSection {
  name: string
  /** First header line when a section is opened more than once. */
  line: number | null
}

export interface RawCfg {
  /** Name used in messages: the cfg path as given, or a label for object configs. */
  source: string
  /** Absolute folder relative paths are resolved against. */
  baseDir: string
  sections: RawSection[]
  /** In file order. */
  entries: RawEntry[]
}

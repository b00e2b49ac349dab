// The README's cfg table ("The cfg contract") is written by hand; this holds it to CFG_SCHEMA,
// the keys and defaults the parser applies, so neither can drift from the other unseen.
import fs from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { CFG_SCHEMA, type CfgKeySpec } from '../src/cfg/schema.js'

const README = path.resolve(import.meta.dirname, '../README.md')

/** section -> key -> the table's default cell, from the table under `| section | key | default | allowed |`. */
function readmeTable(text: string): Map<string, Map<string, string>> {
  const lines = text.split('\n')
  const start = lines.indexOf('| section | key | default | allowed |')
  expect(start, 'the cfg table header').toBeGreaterThan(0)
  const table = new Map<string, Map<string, string>>()
  let section = ''
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break
    const [sec, keys, def] = line.split('|').slice(1, 4).map((c) => c.trim())
    if (sec) section = sec
    const row = table.get(section) ?? new Map<string, string>()
    for (const key of keys!.split(',').map((k) => k.trim())) row.set(key, def!)
    table.set(section, row)
  }
  return table
}

/** How the table writes a key's default. */
function defaultCell(spec: CfgKeySpec): string {
  if (spec.required === 'always') return '(mandatory)'
  if ('unsetMeans' in spec && spec.unsetMeans) return `(${spec.unsetMeans})`
  const d: unknown = spec.default
  if (d === null || (Array.isArray(d) && d.length === 0)) return '–'
  return String(d)
}

describe("README's cfg table", () => {
  const table = readmeTable(fs.readFileSync(README, 'utf8'))

  it('lists every key of the format, and no other, under its section', () => {
    const schema = Object.entries(CFG_SCHEMA).map(([section, spec]) => [section, Object.keys(spec.keys).sort()])
    const readme = [...table].map(([section, keys]) => [section, [...keys.keys()].sort()])
    expect(readme).toEqual(schema)
  })

  it('gives each key the default the parser applies', () => {
    for (const [section, spec] of Object.entries(CFG_SCHEMA)) {
      for (const [key, keySpec] of Object.entries<CfgKeySpec>(spec.keys)) {
        expect(table.get(section)?.get(key), `${section}.${key}`).toBe(defaultCell(keySpec))
      }
    }
  })
})

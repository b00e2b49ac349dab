import fs from 'node:fs'
import path from 'node:path'
import { QuantizeError } from '../../errors.js'
import { fsReason, WriteError, writeFilesAtomic } from '../../write-atomic.js'
import type { CsvFile } from './debug-csv-files.js'

/**
 * Writes the reports into `dir`, creating it (and its parents) when missing. Each file appears
 * complete or not at all (temp + rename); a failure is a QuantizeError naming the file.
 */
export function writeDebugCsv(dir: string, files: readonly CsvFile[]): string[] {
  try {
    fs.mkdirSync(dir, { recursive: true })
  } catch (err) {
    throw new QuantizeError(dir, `cannot create the debug report folder: ${fsReason(err as NodeJS.ErrnoException)}`, 'output', { cause: err })
  }
  const paths = files.map((f) => path.join(dir, f.name))
  try {
    writeFilesAtomic(files.map((f, i) => ({ path: paths[i]!, bytes: f.text })))
  } catch (err) {
    if (err instanceof WriteError) throw new QuantizeError(err.file, `cannot write the debug report: ${err.reason}`, 'output', { cause: err })
    throw err
  }
  // a report_<n>.csv from an earlier run with more rounds would mix two runs in one folder
  const written = new Set(files.map((f) => f.name))
  for (const name of fs.readdirSync(dir)) {
    if (/^report_\d+\.csv$/.test(name) && !written.has(name)) fs.rmSync(path.join(dir, name), { force: true })
  }
  return paths
}

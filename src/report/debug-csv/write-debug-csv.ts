import fs from 'node:fs'
import path from 'node:path'
import { QuantizeError } from '../../errors.js'
import { makeDirsSync } from '../../make-dirs.js'
import { fsReason, WriteError, writeFilesAtomic } from '../../write-atomic.js'
import type { CsvFile } from './debug-csv-files.js'

/**
 * Writes the reports into `dir`, creating it (and its parents) when missing. Each file appears
 * complete or not at all (temp + rename); a failure is a QuantizeError naming the file.
 */
export function writeDebugCsv(dir: string, files: readonly CsvFile[]): string[] {
  try {
    makeDirsSync(dir)
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
  removeStaleRounds(dir, files)
  return paths
}

/**
 * Removes the report_<n>.csv files in `dir` that `files` (just written there) do not have: an
 * earlier run with more rounds (FULL_QUANT's, say) would otherwise mix two runs in one folder.
 */
export function removeStaleRounds(dir: string, files: readonly CsvFile[]): void {
  const written = new Set(files.map((f) => f.name))
  for (const name of fs.readdirSync(dir)) {
    if (/^report_\d+\.csv$/.test(name) && !written.has(name)) fs.rmSync(path.join(dir, name), { force: true })
  }
}

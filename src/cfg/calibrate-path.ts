import fs from 'node:fs'
import { foreignPathProblem, resolveDir } from './resolve-dir.js'
import type { CalibrationSource } from './types.js'

export type CalibratePathResult = { ok: true; sources: CalibrationSource[] } | { ok: false; problem: string }

// Tensor names as they appear in calibrate_path: no whitespace and no path separators, and
// not starting like a relative path (`.`/`~`). ONNX allows more, but a prefix that could be
// part of a path has to be read as a path or `/mnt/data:v2` would be split.
const TENSOR_NAME = /^[^\s/\\.~][^\s/\\]*$/

/**
 * `input_name:dir,input_name:dir`, or one bare dir for a single-input model.
 *
 * Each entry is split on a ':' before which stands a tensor name (names may hold ':'
 * themselves, as PyTorch's `onnx::MatMul_0` does) and not a drive letter: the last such colon
 * whose folder exists, else the last one (splitEntry); with no such colon the whole entry is a
 * dir, which keeps `C:\calib` and `/mnt/run:3` intact. `./calib_T10:00` names a folder with a
 * colon beyond doubt.
 */
export function parseCalibratePath(value: string, baseDir: string): CalibratePathResult {
  const parts = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')
  if (parts.length === 0) return { ok: false, problem: 'names no directory' }

  const sources: CalibrationSource[] = []
  for (const part of parts) {
    const split = splitEntry(part, baseDir)
    if (!split.ok) return split
    const foreign = foreignPathProblem(split.dir)
    if (foreign) return { ok: false, problem: `names '${split.dir}', ${foreign}` }
    sources.push({ inputName: split.inputName, dir: resolveDir(split.dir, baseDir) })
  }

  if (sources.length > 1) {
    const unnamed = parts[sources.findIndex((s) => s.inputName === null)]
    if (unnamed !== undefined) {
      return { ok: false, problem: `has several entries but '${unnamed}' does not say which input it is for` }
    }
    const names = sources.map((s) => s.inputName)
    const repeated = names.find((name, i) => names.indexOf(name) !== i)
    if (repeated) return { ok: false, problem: `names input '${repeated}' more than once` }
  }
  return { ok: true, sources }
}

type SplitEntry = { ok: true; inputName: string | null; dir: string } | { ok: false; problem: string }

function splitEntry(entry: string, baseDir: string): SplitEntry {
  if (!entry.includes(':')) return { ok: true, inputName: null, dir: entry }
  if (entry.startsWith(':')) return { ok: false, problem: `has an empty input name in '${entry}'` }
  // Names may hold colons themselves (PyTorch's `onnx::MatMul_0`), and so may folders
  // (`calib_T10:00`): every colon that can end a name is a reading, the last one first, and the
  // first reading whose folder exists wins; with none existing, the last colon's (the error
  // about the missing folder then names it).
  const readings: { inputName: string; dir: string }[] = []
  for (let colon = entry.lastIndexOf(':'); colon > 0; colon = entry.lastIndexOf(':', colon - 1)) {
    if (entry[colon - 1] === ':' || entry[colon + 1] === ':') continue // inside a name's '::'
    const prefix = entry.slice(0, colon).trim()
    const rest = entry.slice(colon + 1).trim()
    if (isDriveLetter(prefix.slice(prefix.lastIndexOf(':') + 1), rest) || !TENSOR_NAME.test(prefix)) continue
    if (rest === '') return { ok: false, problem: `has no directory after '${prefix}:'` }
    readings.push({ inputName: prefix, dir: rest })
  }
  if (readings.length === 0) return { ok: true, inputName: null, dir: entry }
  const found = readings.length > 1 ? readings.find((r) => !foreignPathProblem(r.dir) && isDir(resolveDir(r.dir, baseDir))) : undefined
  return { ok: true, ...(found ?? readings[0]!) }
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory()
  } catch {
    return false
  }
}

// `C:\x` is a drive on every platform. `x:/data` is a drive only on Windows; elsewhere it is
// far more likely a single-letter input name (`x` is a common one) with an absolute dir.
function isDriveLetter(prefix: string, rest: string): boolean {
  if (!/^[A-Za-z]$/.test(prefix)) return false
  return rest.startsWith('\\') || (rest.startsWith('/') && process.platform === 'win32')
}

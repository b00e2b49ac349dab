import fs from 'node:fs'
import path from 'node:path'
import type { DataPreprocessConfig } from '../cfg/index.js'
import { QuantizeError } from '../errors.js'
import type { InputSpec } from '../runtime/feeds.js'

/** Which folder feeds which model input, checked against the model's inputs. */
export function inputFolders(cfg: DataPreprocessConfig, specs: InputSpec[], where: string): Map<InputSpec, string> {
  const map = new Map<InputSpec, string>()
  const names = specs.map((s) => s.name).join(', ')
  for (const source of cfg.calibratePath) {
    if (source.inputName === null) {
      if (specs.length !== 1) {
        throw new QuantizeError(where, `calibrate_path is a bare folder but the model has ${specs.length} inputs (${names}); write input_name:folder for each`, 'config')
      }
      map.set(specs[0]!, source.dir)
      continue
    }
    const spec = specs.find((s) => s.name === source.inputName)
    if (!spec) throw new QuantizeError(where, `calibrate_path names input '${source.inputName}', but the model's inputs are: ${names}`, 'config')
    map.set(spec, source.dir)
  }
  for (const spec of specs) if (!map.has(spec)) throw new QuantizeError(where, `calibrate_path gives no folder for model input '${spec.name}' (the model's inputs are: ${names})`, 'config')
  return map
}

/**
 * Image file name endings sharp decodes (it sniffs the content; the ending only selects files).
 * Not BMP: sharp's prebuilt libvips has no BMP loader.
 */
export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'] as const

export function isCalibrationFile(name: string, inputType: DataPreprocessConfig['inputType']): boolean {
  const lower = name.toLowerCase()
  if (name.startsWith('.')) return false
  return inputType === 'BIN' ? lower.endsWith('.bin') : IMAGE_EXTENSIONS.some((e) => lower.endsWith(e))
}

const isBmp = (name: string): boolean => name.toLowerCase().endsWith('.bmp')

/**
 * True when a file named `name` in a calibration folder changes what the engine computes or
 * reports: a calibration file (all of them, not only the first calibrate_size: verification reads
 * the files past it, and their count is in warnings), or beside images a .bmp file, counted in
 * a warning. Anything else (a README, .DS_Store) is never read.
 */
export function affectsCalibration(name: string, inputType: DataPreprocessConfig['inputType']): boolean {
  return isCalibrationFile(name, inputType) || (inputType === 'IMAGE' && isBmp(name))
}

/**
 * The sorted calibration files of a folder (all of them); an empty or missing folder is an error.
 * BMP files beside images are left out with a warning pushed to `warnings`.
 */
export function calibrationFiles(dir: string, where: string, filter: (name: string) => boolean, what: string, warnings: string[] = []): string[] {
  let names: string[]
  try {
    names = fs.readdirSync(dir)
  } catch {
    throw new QuantizeError(where, `calibration folder ${dir} does not exist or cannot be read`, 'config')
  }
  // Code-unit order, not locale order: the same files are picked on every machine.
  const files = names.filter(filter).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map((n) => path.join(dir, n))
  const bmp = what === 'image' ? names.filter(isBmp).length : 0
  if (files.length === 0) {
    throw new QuantizeError(where, `calibration folder ${dir} has no ${what} files${bmp ? ' (it has .bmp files, which sharp cannot decode: convert them to PNG)' : ''}`, 'config')
  }
  if (bmp) warnings.push(`calibration folder ${dir}: ${bmp} .bmp file(s) left out (sharp cannot decode BMP: convert them to PNG to calibrate on them)`)
  return files
}

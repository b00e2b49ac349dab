import fs from 'node:fs'
import path from 'node:path'
import { affectsCalibration } from '../../src/calibrate/calibration-files.js'
import type { InputType } from '../../src/cfg/index.js'
import type { PreparedModel } from './model-inputs.js'
import { siblingConfigs } from './find-config.js'

/** The inputs of one model's quantization that live outside the module graph. */
export interface ModelInputs {
  /** The model, every sibling cfg it may pick up (existing or not) and a `defaultConfig` file. */
  files: string[]
  /** The cfg's calibration folders: a calibration file added, removed or edited in them changes the result. */
  calibrationDirs: string[]
  /** What the engine reads in those folders (null without them). */
  inputType: InputType | null
}

/**
 * What to watch for one model, from the cfg and the folder listing the quantizer reads. A cfg
 * that does not parse contributes no calibration folders (its own error is reported by the
 * quantizer); editing it is still seen through `files`.
 */
export function modelInputs(prepared: PreparedModel): ModelInputs {
  const { model, config, parsed } = prepared
  const files = [model, ...siblingConfigs(model)]
  if (config?.kind === 'file' && !files.includes(config.path)) files.push(config.path)
  const pre = parsed !== null && 'cfg' in parsed ? parsed.cfg.dataPreprocess : null
  const calibrationDirs = [...new Set((pre?.calibratePath ?? []).map((s) => path.resolve(s.dir)))]
  return { files: files.map((f) => path.resolve(f)), calibrationDirs, inputType: pre?.inputType ?? null }
}

/**
 * True when an event on `file` (added, changed or removed) changes the result: a file the engine
 * reads directly in one of the calibration folders. Other files there, and those in subfolders,
 * the engine never reads.
 */
export function isCalibrationInput(inputs: ModelInputs, file: string): boolean {
  return inputs.inputType !== null && inputs.calibrationDirs.includes(path.dirname(file)) && affectsCalibration(path.basename(file), inputs.inputType)
}

/** True when `file` is `dir` or inside it. */
export function isInside(file: string, dir: string): boolean {
  const rel = path.relative(dir, file)
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}

/** `modelInputs` in the shape bundlers' watch APIs take. */
export interface WatchList {
  /** Files to watch for changes: the model and the cfg files that exist. */
  files: string[]
  /** Files whose creation changes the result (a sibling cfg that does not exist yet). */
  missing: string[]
  /**
   * Calibration folders: a calibration file added to them or removed changes the result. A
   * bundler that watches a folder rebuilds for any file in it; the cache key leaves out the files
   * the engine does not read, so such a rebuild reuses the model.
   */
  dirs: string[]
  /** The calibration files in those folders now, for bundlers that watch files, not folders. */
  dirFiles: string[]
}

export function watchList(prepared: PreparedModel): WatchList {
  const inputs = modelInputs(prepared)
  const files: string[] = []
  const missing: string[] = []
  for (const f of inputs.files) (fs.existsSync(f) ? files : missing).push(f)
  // a missing folder gives no files: the quantizer reports it; watching the folder sees it appear
  return { files, missing, dirs: inputs.calibrationDirs, dirFiles: prepared.calibrationFiles.map((f) => path.resolve(f)) }
}

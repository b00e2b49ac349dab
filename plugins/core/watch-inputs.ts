import fs from 'node:fs'
import path from 'node:path'
import type { ModelConfig } from './find-config.js'
import { folderFiles } from './folder-files.js'
import { readConfig } from './quantize-asset.js'
import { siblingConfigs } from './find-config.js'

/** The inputs of one model's quantization that live outside the module graph. */
export interface ModelInputs {
  /** The model, every sibling cfg it may pick up (existing or not) and a `defaultConfig` file. */
  files: string[]
  /** The cfg's calibration folders: a file added, removed or edited in them changes the result. */
  calibrationDirs: string[]
}

/**
 * What to watch for one model. A cfg that does not parse contributes no calibration folders
 * (its own error is reported by the quantizer); editing it is still seen through `files`.
 */
export async function modelInputs(model: string, config: ModelConfig | null): Promise<ModelInputs> {
  const files = [model, ...siblingConfigs(model)]
  if (config?.kind === 'file' && !files.includes(config.path)) files.push(config.path)
  let calibrationDirs: string[] = []
  if (config) {
    try {
      const cfg = await readConfig(config)
      calibrationDirs = [...new Set((cfg.dataPreprocess?.calibratePath ?? []).map((s) => path.resolve(s.dir)))]
    } catch {
      // the quantizer reports the cfg error with its line
    }
  }
  return { files: files.map((f) => path.resolve(f)), calibrationDirs }
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
  /** Calibration folders: a file added, removed or edited in them changes the result. */
  dirs: string[]
  /** The files in those folders now, for bundlers that watch files, not folders. */
  dirFiles: string[]
}

export async function watchList(model: string, config: ModelConfig | null): Promise<WatchList> {
  const inputs = await modelInputs(model, config)
  const files: string[] = []
  const missing: string[] = []
  for (const f of inputs.files) (fs.existsSync(f) ? files : missing).push(f)
  const dirFiles: string[] = []
  // a missing folder gives none: the quantizer reports it; watching the folder sees it appear
  for (const dir of inputs.calibrationDirs) dirFiles.push(...folderFiles(dir))
  return { files, missing, dirs: inputs.calibrationDirs, dirFiles }
}

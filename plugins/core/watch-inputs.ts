import path from 'node:path'
import { cfgFromObject, loadCfg, type QuantConfig } from '../../src/cfg/index.js'
import type { ModelConfig } from './find-config.js'
import { siblingConfigs } from './find-config.js'

/** The inputs of one model's quantization that live outside the module graph. */
export interface ModelInputs {
  /** The model, every sibling cfg it may pick up (existing or not) and a `defaultConfig` file. */
  files: string[]
  /** The cfg's calibration folders: a file added, removed or edited in them changes the result. */
  calibrationDirs: string[]
}

async function readConfig(config: ModelConfig): Promise<QuantConfig> {
  return config.kind === 'file' ? loadCfg(config.path) : cfgFromObject(config.config, config.baseDir, 'defaultConfig')
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

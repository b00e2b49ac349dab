import path from 'node:path'
import { affectsCalibration } from '../../src/calibrate/calibration-files.js'
import { cfgFromObject, loadCfg, type QuantConfig } from '../../src/cfg/index.js'
import type { ModelConfig } from './find-config.js'
import { folderFiles } from './folder-files.js'

/**
 * One read of a model's cfg and its calibration folders, shared by the cache key and the watch
 * list of a build (each read them on its own before: the cfg parsed twice, the folders listed
 * twice, per model per build).
 */
export interface PreparedModel {
  model: string
  /** null: no cfg, the model passes through. */
  config: ModelConfig | null
  /** The parsed cfg, or what parsing it threw (the quantizer reports it; the watch list goes on). */
  parsed: { cfg: QuantConfig } | { error: unknown } | null
  /** `calibrationFiles` of the parsed cfg when it was read ([] without one). */
  calibrationFiles: string[]
}

/** The parsed config a model's cfg file or the `defaultConfig` object gives. */
export async function readConfig(config: ModelConfig): Promise<QuantConfig> {
  return config.kind === 'file' ? loadCfg(config.path) : cfgFromObject(config.config, config.baseDir, 'defaultConfig')
}

/**
 * The files of the cfg's calibration folders the engine reads or counts (affectsCalibration):
 * their names and bytes change the result; a README beside them does not.
 */
export function calibrationFiles(cfg: QuantConfig): string[] {
  const pre = cfg.dataPreprocess
  if (!pre) return []
  // a missing folder gives none: it is the engine's error to report, with the cfg's line
  return pre.calibratePath.flatMap((source) => folderFiles(source.dir).filter((f) => affectsCalibration(path.basename(f), pre.inputType)))
}

/**
 * `prepared` with its calibration folders listed again, its cfg as it was read: for a listing
 * that must come after something else (the dev server's watcher becoming ready).
 */
export function relisted(prepared: PreparedModel): PreparedModel {
  const parsed = prepared.parsed
  return parsed !== null && 'cfg' in parsed ? { ...prepared, calibrationFiles: calibrationFiles(parsed.cfg) } : prepared
}

/** Read `model`'s cfg and list its calibration files, once. */
export async function prepareModel(model: string, config: ModelConfig | null): Promise<PreparedModel> {
  if (!config) return { model, config, parsed: null, calibrationFiles: [] }
  let cfg: QuantConfig
  try {
    cfg = await readConfig(config)
  } catch (error) {
    return { model, config, parsed: { error }, calibrationFiles: [] }
  }
  return { model, config, parsed: { cfg }, calibrationFiles: calibrationFiles(cfg) }
}

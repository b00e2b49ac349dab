import fs from 'node:fs/promises'
import path from 'node:path'
import { NoCache, ResultCache, cacheKey, type Blobs, type CacheLogger, type QuantizeCache } from '../../src/cache/index.js'
import { cfgFromObject, loadCfg, type QuantConfig } from '../../src/cfg/index.js'
import { QuantizeError } from '../../src/errors.js'
import { quantizeModel, type QuantizeReport } from '../../src/quantize-model.js'
import { findConfig, type ModelConfig } from './find-config.js'
import { createLimiter } from './limiter.js'
import type { ResolvedOptions } from './options.js'

/** Counters since the plugin was created; tests read them through the plugin's `api.stats()`. */
export interface QuantizeStats {
  /** Models actually quantized (cache misses that ran the engine). */
  quantized: number
  /** Models served from the cache or from another build's in-flight work. */
  reused: number
  /** Models with no cfg, emitted unchanged. */
  passedThrough: number
  /** Models that could not be quantized (the error went to `onError`). */
  failed: number
}

export type AssetResult =
  | { kind: 'quantized'; bytes: Uint8Array; report: QuantizeReport; configFile: string | null; /** served from the cache without running the engine */ cached: boolean }
  | { kind: 'original'; bytes: Uint8Array }

// Blob names in a cache entry. The report is the engine's raw report; the `.quant.json` is
// derived per build because it names the emitted (hashed) file.
export const MODEL_BLOB = 'model.onnx'
export const REPORT_BLOB = 'report.json'
// bump when what the plugin stores in an entry changes
const PLUGIN_KEY_FORMAT = 1

/** The parsed config a model's cfg file or the `defaultConfig` object gives. */
export async function readConfig(config: ModelConfig): Promise<QuantConfig> {
  return config.kind === 'file' ? loadCfg(config.path) : cfgFromObject(config.config, config.baseDir, 'defaultConfig')
}

/** Files in the cfg's calibration folders: their names and bytes change the result. */
export async function calibrationFiles(cfg: QuantConfig): Promise<string[]> {
  const files: string[] = []
  for (const source of cfg.dataPreprocess?.calibratePath ?? []) {
    let entries: import('node:fs').Dirent[]
    try {
      entries = await fs.readdir(source.dir, { withFileTypes: true })
    } catch {
      continue // a missing folder is the engine's error to report, with the cfg's line
    }
    for (const e of entries) if (e.isFile()) files.push(path.join(source.dir, e.name))
  }
  return files
}

/**
 * Turns a model path into the bytes to emit: cache lookup, else the engine under the
 * concurrency limit. Several importers of one model in one build share one computation.
 */
export class ModelQuantizer {
  readonly cache: QuantizeCache
  private readonly limit: <T>(task: () => Promise<T>) => Promise<T>
  private readonly inFlight = new Map<string, Promise<AssetResult>>()

  // `stats` is the plugin's object, updated in place so its API sees every build's counts
  constructor(private readonly options: ResolvedOptions, private readonly root: string, logger: CacheLogger, readonly stats: QuantizeStats) {
    this.cache = options.cache ? new ResultCache({ root, dir: options.cacheDir, logger }) : new NoCache()
    this.limit = createLimiter(options.concurrency)
  }

  /** The cfg file this model would use, or null (for watch lists and messages). */
  configOf(model: string): ModelConfig | null {
    return findConfig(model, this.options.defaultConfig, this.root)
  }

  process(model: string): Promise<AssetResult> {
    const running = this.inFlight.get(model)
    if (running) return running
    const work = this.run(model).finally(() => this.inFlight.delete(model))
    this.inFlight.set(model, work)
    return work
  }

  private async run(model: string): Promise<AssetResult> {
    const config = this.configOf(model)
    if (!config) {
      this.stats.passedThrough++
      return { kind: 'original', bytes: await fs.readFile(model) }
    }
    try {
      const cfg = await readConfig(config)
      const quantizeOptions = { verify: this.options.verify }
      const key = await cacheKey({
        model,
        cfg,
        calibrationFiles: await calibrationFiles(cfg),
        options: { plugin: PLUGIN_KEY_FORMAT, ...quantizeOptions },
      })
      let computed = false
      const blobs = await this.cache.getOrCompute(key, () => this.limit(async (): Promise<Blobs> => {
        computed = true
        this.stats.quantized++
        const result = await quantizeModel(model, cfg, quantizeOptions)
        if (result.externalData) {
          // the model would refer to its data file by a name the bundler's hashing changes
          throw new QuantizeError(model, 'models with external data are not supported by the bundler plugins yet', 'unsupported')
        }
        return { [MODEL_BLOB]: result.model, [REPORT_BLOB]: new TextEncoder().encode(JSON.stringify(result.report)) }
      }))
      if (!computed) this.stats.reused++
      const bytes = blobs[MODEL_BLOB]
      const report = blobs[REPORT_BLOB]
      if (!bytes || !report) throw new QuantizeError(model, 'cache entry lacks model.onnx or report.json', 'runtime')
      return { kind: 'quantized', bytes, report: JSON.parse(new TextDecoder().decode(report)) as QuantizeReport, configFile: config.kind === 'file' ? config.path : null, cached: !computed }
    } catch (err) {
      this.stats.failed++
      throw err
    }
  }
}

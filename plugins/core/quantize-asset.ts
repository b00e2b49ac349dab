import fs from 'node:fs/promises'
import path from 'node:path'
import { DigestMemo, NoCache, ResultCache, cacheKey, type Blobs, type CacheLogger, type QuantizeCache } from '../../src/cache/index.js'
import type { QuantConfig } from '../../src/cfg/index.js'
import { QuantizeError } from '../../src/errors.js'
import type { QuantizeReport, QuantizeResult } from '../../src/quantize-model.js'
import type { CsvFile } from '../../src/report/debug-csv/debug-csv-files.js'
import { findConfig, type ModelConfig } from './find-config.js'
import { createLimiter } from './limiter.js'
import { calibrationFiles, prepareModel, type PreparedModel } from './model-inputs.js'
import type { ResolvedOptions } from './options.js'
import { progressReporter } from './progress-reporter.js'
import { sharedPool, type PoolJob, type WorkerPool } from './worker-pool.js'

/** Counters since the plugin was created; tests read them through the plugin's `api.stats()`. */
export interface QuantizeStats {
  /** Models actually quantized (cache misses that ran the engine to a result). */
  quantized: number
  /** Models served from the cache or from another build's in-flight work. */
  reused: number
  /** Models with no cfg, emitted unchanged. */
  passedThrough: number
  /** Models that could not be quantized (the error went to `onError`). */
  failed: number
  /** Quantizations running now. */
  running: number
  /** Quantizations that ran on a worker thread (the rest fell back to the main thread). */
  onWorkerThread: number
}

export const newStats = (): QuantizeStats => ({ quantized: 0, reused: 0, passedThrough: 0, failed: 0, running: 0, onWorkerThread: 0 })

/** Where the quantizer's messages go: the bundler's warnings, and its logger for progress. */
export interface QuantizerLogger extends CacheLogger {
  info: (message: string) => void
}

/**
 * One engine run on the worker pool, counted in `stats`, with its progress in the log once it
 * runs long. `name` is how the log names the model.
 */
export async function runQuantization(pool: WorkerPool, stats: QuantizeStats, name: string, job: PoolJob, info: (message: string) => void): Promise<QuantizeResult> {
  stats.running++
  const progress = progressReporter(name, info)
  try {
    const { result, threadId } = await pool.run(job, progress.onProgress)
    // a run that failed counts in `failed` only
    stats.quantized++
    if (threadId !== 0) stats.onWorkerThread++
    return result
  } finally {
    progress.done()
    stats.running--
  }
}

export type AssetResult =
  | {
    kind: 'quantized'
    bytes: Uint8Array
    report: QuantizeReport
    configFile: string | null
    /** served from the cache without running the engine */
    cached: boolean
    /** The debug CSVs when the cfg sets debug_info_save_path, else empty. */
    debugCsv: CsvFile[]
  }
  | { kind: 'original'; bytes: Uint8Array }

// Blob names in a cache entry. The report is the engine's raw report; the `.quant.json` is
// derived per build because it names the emitted (hashed) file.
export const MODEL_BLOB = 'model.onnx'
export const REPORT_BLOB = 'report.json'
// Blob names are plain file names (no folders), so the CSVs travel as one JSON array of
// { name, text }; it is written in the same atomic entry folder as the model.
export const DEBUG_CSV_BLOB = 'debug-csv.json'
// bump when what the plugin stores in an entry changes (2: the debug CSVs; 3: the report
// without per-channel parameters; 4: without the cfg's warnings), or what its key covers (5:
// only the files of the calibration folders the engine reads)
const PLUGIN_KEY_FORMAT = 5
// the gulp stream's entries have keys of their own (3: without the cfg's warnings; 4: as 5 above)
const GULP_KEY_FORMAT = 4

/**
 * The report as an entry stores it. Per-channel parameters (scales, zero points, bias-correction
 * statistics) are most of its bytes (310 of 318 KB for ppocr-cls) and most of a hit's parse
 * time, yet nothing a plugin emits reads them from the report: the `.quant.json` and the HTML
 * page leave them out, and the debug CSVs that list them are a blob of their own.
 */
export function reportText(report: QuantizeReport): string {
  const layers = report.layers.map(({ scale: _scale, zeroPoint: _zeroPoint, correctionVar: _var, correctionMean: _mean, ...rest }) => rest)
  return JSON.stringify({ ...report, layers })
}

/**
 * The report of a cache entry. Its layers lack the per-channel parameters (see `reportText`):
 * the type still says QuantizeReport because every consumer (`.quant.json`, the HTML page,
 * webpack's buildInfo, which must stay plain JSON) takes that type and none reads those fields.
 */
export function reportOf(blob: Uint8Array, model: string): QuantizeReport {
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder().decode(blob))
  } catch {
    value = null
  }
  if (typeof value !== 'object' || value === null || !Array.isArray((value as QuantizeReport).layers)) {
    throw new QuantizeError(model, `cache entry's ${REPORT_BLOB} is not a quantization report`, 'runtime')
  }
  return value as QuantizeReport
}

/**
 * The entry's blobs for one engine result; the CSVs only when the cfg asked for them. The report
 * is stored without the cfg's own warnings (they lead its list): an unknown key or a comment
 * does not change the cache key, so a hit must report the cfg as it reads now (withCfgWarnings).
 */
export function resultBlobs(result: QuantizeResult, cfg: QuantConfig): Blobs {
  const own = cfg.warnings.length
  const report = { ...result.report, warnings: result.report.warnings.slice(own) }
  const blobs: Record<string, Uint8Array> = { [MODEL_BLOB]: result.model, [REPORT_BLOB]: new TextEncoder().encode(reportText(report)) }
  // the engine also collects them by default for the HTML page; only a cfg that names
  // debug_info_save_path asked for the files
  if (cfg.debugInfoSavePath !== null && result.debugCsv && result.debugCsv.length > 0) {
    blobs[DEBUG_CSV_BLOB] = new TextEncoder().encode(JSON.stringify(result.debugCsv))
  }
  return blobs
}

/** The debug CSVs of a cache entry ([] when it has none); a malformed blob is a corrupt entry. */
export function debugCsvOf(blobs: Blobs, model: string): CsvFile[] {
  const blob = blobs[DEBUG_CSV_BLOB]
  if (!blob) return []
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder().decode(blob))
  } catch {
    value = null
  }
  const ok = Array.isArray(value) && value.every((f) => typeof f === 'object' && f !== null && typeof (f as CsvFile).name === 'string' && /^[\w.-]+\.csv$/.test((f as CsvFile).name) && typeof (f as CsvFile).text === 'string')
  if (!ok) throw new QuantizeError(model, `cache entry's ${DEBUG_CSV_BLOB} is not a list of CSV files`, 'runtime')
  return value as CsvFile[]
}

/**
 * A stored report with the warnings of the cfg as it reads now in front, as the engine puts them,
 * and the project root left out of the paths they name: the reports ship in the bundle.
 */
export function withCfgWarnings(report: QuantizeReport, cfg: QuantConfig, root: string): QuantizeReport {
  return { ...report, warnings: [...cfg.warnings.map((w) => w.message), ...report.warnings].map((w) => rootRelative(w, root)) }
}

/** `text` with the project root's absolute path left out of the paths it names (reports ship in the bundle). */
export function rootRelative(text: string, root: string): string {
  const prefix = path.resolve(root) + path.sep
  return text.split(prefix).join('')
}

/** Thrown inside a cache computation whose inputs changed while the engine ran: its result belongs to no key. */
class InputsChanged extends Error {}

/** Tries before giving up on inputs that keep changing. */
const STABLE_ATTEMPTS = 3

/**
 * The cache's entry for the key `keyOf()` gives, else `compute()`'s result stored under it. The
 * engine reads the model and the calibration files while it runs, after the key was taken: an
 * editor save or a git checkout in between would store a result of the new files under the old
 * files' key, and every later build would get it back. So the key is taken again after the run,
 * and a result whose inputs changed meanwhile is not stored but computed again.
 */
export async function getOrComputeStable(cache: QuantizeCache, model: string, keyOf: () => Promise<string>, compute: () => Promise<Blobs>): Promise<{ blobs: Blobs; computed: boolean }> {
  // without a cache there is no key to protect: what the engine read is the result
  if (cache.dir === null) return { blobs: await cache.getOrCompute(await keyOf(), compute), computed: true }
  // once any attempt ran the engine, the result is not "from the cache" even if a later attempt hits
  let computed = false
  for (let attempt = 1; ; attempt++) {
    const key = await keyOf()
    try {
      const blobs = await cache.getOrCompute(key, async () => {
        computed = true
        const blobs = await compute()
        if ((await keyOf()) !== key) throw new InputsChanged()
        return blobs
      })
      return { blobs, computed }
    } catch (err) {
      if (!(err instanceof InputsChanged)) throw err
      if (attempt === STABLE_ATTEMPTS) {
        throw new QuantizeError(model, `the model or its calibration files changed while it was quantized, ${STABLE_ATTEMPTS} times in a row; build again once they stop changing`, 'runtime')
      }
    }
  }
}

/** Which plugin runs the quantizer: its cache entries and its messages are its own. */
export type QuantizerHost = 'bundler' | 'gulp'

/** `file` relative to `root` with '/' separators, or as it is when outside `root`: how the log names a model. */
export function displayPath(file: string, root: string): string {
  const r = path.relative(root, file)
  return (r.startsWith('..') || path.isAbsolute(r) ? file : r).split(path.sep).join('/')
}

/**
 * Turns a model into the bytes to emit: cache lookup, else the engine under the concurrency
 * limit. Several importers of one model in one build share one computation.
 */
export class ModelQuantizer {
  readonly cache: QuantizeCache
  private readonly limit: <T>(task: () => Promise<T>) => Promise<T>
  private readonly inFlight = new Map<string, Promise<AssetResult>>()
  // the model and calibration files of a watch session's rebuilds are mostly unchanged: a stat
  // each then, not a sha256 of every byte (a copied model's key is taken on every rebuild)
  private readonly digests = new DigestMemo()

  // `stats` is the plugin's object, updated in place so its API sees every build's counts
  constructor(private readonly options: ResolvedOptions, private readonly root: string, private readonly logger: QuantizerLogger, readonly stats: QuantizeStats, private readonly host: QuantizerHost = 'bundler') {
    this.cache = options.cache ? new ResultCache({ root, dir: options.cacheDir, logger }) : new NoCache()
    this.limit = createLimiter(options.concurrency)
  }

  /** The cfg file this model would use, or null (for watch lists and messages). */
  configOf(model: string): ModelConfig | null {
    return findConfig(model, this.options.defaultConfig, this.root)
  }

  /**
   * The model's cfg, read, and its calibration files, listed: once per model per build, for
   * `process` and the watch list (watch-inputs.ts) both. `config` when the caller found it itself.
   */
  prepare(model: string, config: ModelConfig | null = this.configOf(model)): Promise<PreparedModel> {
    return prepareModel(model, config)
  }

  /**
   * The bytes to emit for `prepared.model`. `bytes`: the model's content as the caller holds it
   * (gulp's vinyl file), else it is read from disk, and concurrent calls for one model share one run.
   */
  process(prepared: PreparedModel, bytes?: Uint8Array): Promise<AssetResult> {
    if (bytes) return this.run(prepared, bytes)
    const { model } = prepared
    const running = this.inFlight.get(model)
    if (running) return running
    const work = this.run(prepared).finally(() => this.inFlight.delete(model))
    this.inFlight.set(model, work)
    return work
  }

  private async run(prepared: PreparedModel, bytes?: Uint8Array): Promise<AssetResult> {
    const { model, config, parsed } = prepared
    if (!config || !parsed) {
      this.stats.passedThrough++
      return { kind: 'original', bytes: bytes ?? await fs.readFile(model) }
    }
    try {
      if ('error' in parsed) throw parsed.error
      const { cfg } = parsed
      const quantizeOptions = { verify: this.options.verify }
      const tag = this.host === 'gulp' ? { plugin: 'gulp', format: GULP_KEY_FORMAT } : { plugin: PLUGIN_KEY_FORMAT }
      // the first key takes the listing the watch list got; the check after the run lists again
      let listed: string[] | null = prepared.calibrationFiles
      const keyOf = () => {
        const files = listed ?? calibrationFiles(cfg)
        listed = null
        return cacheKey({ model: bytes ?? model, cfg, calibrationFiles: files, options: { ...tag, ...quantizeOptions }, digestFile: (f) => this.digests.digest(f) })
      }
      const { blobs, computed } = await getOrComputeStable(this.cache, model, keyOf, () => this.limit(async (): Promise<Blobs> => {
        // the process's pool: the next build (watch mode) reuses its warm worker
        const pool = sharedPool(this.options.concurrency, (message) => this.logger.info(`[unplugin-quantize] ${message}`))
        const options = this.options.threads === null ? quantizeOptions : { ...quantizeOptions, threads: this.options.threads }
        const result = await runQuantization(pool, this.stats, displayPath(model, this.root), { model: bytes ?? model, cfg, options }, this.logger.info)
        if (result.externalData || result.inputExternalData) {
          // the output would refer to its data file by a name the bundler's hashing changes; and
          // an input's data file is neither in the cache key nor watched, so even an output
          // whose weights all fit inline would be served stale after the data file changes
          const by = this.host === 'gulp' ? 'the gulp plugin' : 'the bundler plugins yet'
          throw new QuantizeError(model, `models with external data are not supported by ${by}`, 'unsupported')
        }
        return resultBlobs(result, cfg)
      }))
      if (!computed) this.stats.reused++
      const out = blobs[MODEL_BLOB]
      const report = blobs[REPORT_BLOB]
      if (!out || !report) throw new QuantizeError(model, 'cache entry lacks model.onnx or report.json', 'runtime')
      // A misspelt key is ignored with a warning, and the engine's own (a missed accuracy target,
      // inputs it had to generate) qualify the model shipped: said in the build's log on every
      // build, hit or miss, not only in the .quant.json. Cfg warnings name their file and line.
      for (const w of cfg.warnings) this.logger.warn(rootRelative(w.message, this.root))
      const stored = reportOf(report, model)
      for (const w of stored.warnings) this.logger.warn(`${displayPath(model, this.root)}: ${rootRelative(w, this.root)}`)
      return { kind: 'quantized', bytes: out, report: withCfgWarnings(stored, cfg, this.root), configFile: config.kind === 'file' ? config.path : null, cached: !computed, debugCsv: debugCsvOf(blobs, model) }
    } catch (err) {
      this.stats.failed++
      throw err
    }
  }
}

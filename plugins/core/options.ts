import type { CfgObject } from '../../src/cfg/index.js'
import { availableCores } from '../../src/runtime/cores.js'
import { DEFAULT_CACHE_DIR } from '../../src/cache/index.js'

/** A glob (`*`, `**`, `?`, matched against the path relative to the project root, or absolute), a RegExp, or a list of them. */
export type FilterPattern = string | RegExp | readonly (string | RegExp)[]

/**
 * The reports the plugin can emit: `'json'` is `<model>.quant.json` beside each quantized model,
 * `'html'` one `quantize-report.html` for the whole build at the bundle's root.
 */
export type ReportKind = 'json' | 'html'

export interface Options {
  /**
   * Models to quantize.
   * @default '**\/*.onnx'
   */
  include?: FilterPattern
  /**
   * Models to leave to the bundler untouched (applied after `include`).
   * @default []
   */
  exclude?: FilterPattern
  /**
   * cfg (a path relative to the project root, or the cfg's object form) for models with no
   * sibling `<name>.onnx.cfg` / `<name>.cfg`. Without it such models are emitted unchanged.
   * @default undefined
   */
  defaultConfig?: string | CfgObject
  /**
   * Where results are cached, relative to the project root.
   * @default 'node_modules/.cache/unplugin-quantize'
   */
  cacheDir?: string
  /**
   * `false` quantizes on every build and writes no cache.
   * @default true
   */
  cache?: boolean
  /**
   * How many models are quantized at once (each holds a model's tensors in memory).
   * @default os.availableParallelism() - 1, at least 1
   */
  concurrency?: number
  /**
   * Threads one model's accuracy target may rank its weights on: its own quantize thread and
   * `threads` - 1 scoring workers (the library's `threads`). The quantized model is byte for byte the same for any value, so it is not part
   * of the cache key.
   * @default the cores shared between the models quantizing at once, at least 1, at most 4
   */
  threads?: number
  /**
   * `'error'` fails the build when a model cannot be quantized; `'warn'` emits the original model
   * and a warning.
   * @default 'error'
   */
  onError?: 'error' | 'warn'
  /**
   * Reports to emit: `'json'` is `<model>.quant.json` beside each quantized model, `'html'` one
   * self-contained `quantize-report.html` for the whole build at the bundle's root. `false` or
   * `[]` emits none.
   * @default ['json', 'html']
   */
  reports?: readonly ReportKind[] | false
  /**
   * Run the float and the quantized model in onnxruntime-node and record the output cosine
   * similarity in the report.
   * @default true
   */
  verify?: boolean
}

export interface ResolvedOptions {
  include: readonly (string | RegExp)[]
  exclude: readonly (string | RegExp)[]
  defaultConfig: string | CfgObject | null
  cacheDir: string
  cache: boolean
  concurrency: number
  /** null: each model gets its share of the cores when it starts (plugins/core/thread-share.ts) */
  threads: number | null
  onError: 'error' | 'warn'
  reports: readonly ReportKind[]
  verify: boolean
}

const KNOWN = ['include', 'exclude', 'defaultConfig', 'cacheDir', 'cache', 'concurrency', 'threads', 'onError', 'reports', 'verify'] as const
const REPORT_KINDS: readonly ReportKind[] = ['json', 'html']

export class OptionsError extends TypeError {
  override name = 'OptionsError'
}

function fail(option: string, allowed: string, got: unknown): never {
  throw new OptionsError(`unplugin-quantize: option '${option}' must be ${allowed} (got ${show(got)})`)
}

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`
  if (v instanceof RegExp || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') return String(v)
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

function patterns(option: string, v: unknown, fallback: readonly (string | RegExp)[]): readonly (string | RegExp)[] {
  if (v === undefined) return fallback
  const list = Array.isArray(v) ? (v as unknown[]) : [v]
  for (const p of list) {
    if (typeof p !== 'string' && !(p instanceof RegExp)) fail(option, 'a glob string, a RegExp or an array of them', v)
  }
  return list as (string | RegExp)[]
}

function defaultConcurrency(): number {
  return Math.max(1, availableCores() - 1)
}

/**
 * Check every option when the plugin is created, so a typo fails at config load with the
 * option's name instead of surfacing as a strange build later. Unknown keys are errors too.
 */
export function resolveOptions(input: Options | undefined): ResolvedOptions {
  const o: Record<string, unknown> = input === undefined ? {} : (input as Record<string, unknown>)
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new OptionsError(`unplugin-quantize: options must be an object (got ${show(input)})`)
  }
  for (const key of Object.keys(o)) {
    if (!(KNOWN as readonly string[]).includes(key)) {
      throw new OptionsError(`unplugin-quantize: unknown option '${key}'; allowed: ${KNOWN.join(', ')}`)
    }
  }
  const { defaultConfig, cacheDir, cache, concurrency, threads, onError, reports, verify } = o
  if (defaultConfig !== undefined && typeof defaultConfig !== 'string' && (typeof defaultConfig !== 'object' || defaultConfig === null || Array.isArray(defaultConfig))) {
    fail('defaultConfig', 'a cfg file path or a cfg object ({ common_quant_param: { ... } })', defaultConfig)
  }
  if (typeof defaultConfig === 'string' && defaultConfig === '') fail('defaultConfig', 'a non-empty cfg file path', defaultConfig)
  if (cacheDir !== undefined && (typeof cacheDir !== 'string' || cacheDir === '')) fail('cacheDir', 'a non-empty path', cacheDir)
  if (cache !== undefined && typeof cache !== 'boolean') fail('cache', 'true or false', cache)
  if (concurrency !== undefined && (typeof concurrency !== 'number' || !Number.isInteger(concurrency) || concurrency < 1)) {
    fail('concurrency', 'an integer >= 1', concurrency)
  }
  if (threads !== undefined && (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1)) {
    fail('threads', 'an integer >= 1', threads)
  }
  if (onError !== undefined && onError !== 'error' && onError !== 'warn') fail('onError', `'error' or 'warn'`, onError)
  let reportList: readonly ReportKind[] = ['json', 'html']
  if (reports === false) reportList = []
  else if (reports !== undefined) {
    if (!Array.isArray(reports) || reports.some((r) => !REPORT_KINDS.includes(r as ReportKind))) {
      fail('reports', `false or an array of ${REPORT_KINDS.map((r) => `'${r}'`).join(', ')}`, reports)
    }
    reportList = [...new Set(reports as ReportKind[])]
  }
  if (verify !== undefined && typeof verify !== 'boolean') fail('verify', 'true or false', verify)
  return {
    include: patterns('include', o.include, ['**/*.onnx']),
    exclude: patterns('exclude', o.exclude, []),
    defaultConfig: (defaultConfig as string | CfgObject | undefined) ?? null,
    cacheDir: (cacheDir as string | undefined) ?? DEFAULT_CACHE_DIR,
    cache: (cache as boolean | undefined) ?? true,
    concurrency: (concurrency as number | undefined) ?? defaultConcurrency(),
    threads: (threads as number | undefined) ?? null,
    onError: (onError as 'error' | 'warn' | undefined) ?? 'error',
    reports: reportList,
    verify: (verify as boolean | undefined) ?? true,
  }
}

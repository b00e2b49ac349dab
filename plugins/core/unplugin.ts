import fs from 'node:fs'
import path from 'node:path'
import { createUnplugin, type UnpluginInstance, type VitePlugin } from 'unplugin'
import type { QuantizeReport } from '../../src/quantize-model.js'
import { buildReportModel, HTML_REPORT_FILE, quantizeAndCollect, renderReportHtml, summaryTable, type CollectedModel } from './build-report.js'
import { AppearingPaths } from './appearing-paths.js'
import { DevModels, type DevServerLike } from './dev-server.js'
import { createModelFilter } from './filter.js'
import { bundleRefs, mergeModels, saveWorkerModels, workerModels, type OutputBundleLike } from './worker-reports.js'
import { watchList } from './watch-inputs.js'
import type { PreparedModel } from './model-inputs.js'
import { newUrlImport, rewriteNewUrl, type NewUrlModel, type NewUrlResolver, type RewrittenModule } from './rewrite-new-url.js'
import { viteNewUrlResolver, type ViteResolverConfig } from './vite-new-url-resolver.js'
import { resolveOptions, type Options, type ResolvedOptions } from './options.js'
import { ModelQuantizer, newStats, type QuantizeStats } from './quantize-asset.js'
import { listPublicModels, publicFileName, publicModelForUrl, removeCopiedConfigs, type PublicModel } from './public-models.js'
import { debugCsvFiles, reportFile } from './shared.js'
import type { CsvFile } from '../../src/report/debug-csv/debug-csv-files.js'

export type { Options } from './options.js'
export type { QuantizeStats } from './quantize-asset.js'

/** What the plugin exposes on its `api` field (Vite's convention for plugin-to-plugin APIs). */
export interface QuantizePluginApi {
  /** A snapshot of the counters since the plugin was created. */
  stats(): QuantizeStats
}

/**
 * The part of the Rollup / Rolldown plugin context this plugin uses. Declared here so the core
 * does not need rollup's types (rollup is an optional peer; Vite 8 runs on Rolldown).
 */
interface BundlerContext {
  resolve(source: string, importer: string | undefined, options: { skipSelf: boolean }): Promise<{ id: string; external?: unknown } | null>
  emitFile(file: { type: 'asset'; name?: string; fileName?: string; source: string | Uint8Array }): string
  getFileName(referenceId: string): string
  addWatchFile(id: string): void
  /** `pos`: an offset into the module being transformed, for the error's location. */
  error(message: string, pos?: number): never
  warn(message: string): void
  /** Rollup >= 3.25 and Rolldown; absent in older bundlers. */
  info?: (message: string) => void
  /** Every module of the build (Rollup >= 2.38 and Rolldown). */
  getModuleIds?: () => IterableIterator<string>
  meta?: { watchMode?: boolean; rolldownVersion?: string }
}

const PLUGIN_NAME = 'unplugin-quantize'

/** The part of Vite's ResolvedConfig this plugin reads (vite is an optional peer). */
interface ViteResolvedConfig extends ViteResolverConfig {
  root: string
  command: 'build' | 'serve'
  base: string
  publicDir?: string
  build?: { copyPublicDir?: boolean }
  logger?: { info(message: string): void }
  plugins?: readonly { name: string }[]
  /** A worker bundle's config: `mainConfig` is the main build's, `bundleChain` the worker entries from it. */
  isWorker?: boolean
  mainConfig?: ViteResolvedConfig | null
  bundleChain?: readonly string[]
}

// `\0` keeps other plugins (Vite's asset and JSON plugins among them) from treating the id as
// a file to read: the model's bytes only ever travel as a Uint8Array in `emitFile`.
const PREFIX = '\0unplugin-quantize:'

// Vite dev serves the module at `/@id/__x00__unplugin-quantize:<path>`, where a `#` in the path
// would start the URL's fragment (the request then names another file), so the id carries it
// as `%23`, which Vite's decodeURI of the request leaves alone. Only paths holding a `#` are
// written so, behind a marker no absolute path starts with: every other id is the path as it
// is, a literal `%23` in a file name included.
const ESCAPED = 'hash-escaped:'
const modelId = (model: string): string => PREFIX + (model.includes('#') ? ESCAPED + model.replaceAll('#', '%23') : model)
const modelOfId = (id: string): string => {
  const rest = id.slice(PREFIX.length)
  return rest.startsWith(ESCAPED) ? rest.slice(ESCAPED.length).replaceAll('%23', '#') : rest
}

/** `./m.onnx` or `./m.onnx?url`; any other query belongs to someone else. */
function modelRequest(source: string): string | null {
  const q = source.indexOf('?')
  const file = q < 0 ? source : source.slice(0, q)
  const query = q < 0 ? '' : source.slice(q + 1)
  if (!file.endsWith('.onnx') || (query !== '' && query !== 'url')) return null
  return file
}

/**
 * The emitted model's final file name, known once the bundle is generated and asked of the
 * context generating it: Rollup names build-phase assets only in the output's own file emitter,
 * so the load hook's context cannot tell (Rolldown's can).
 */
type FileNameOf = (ctx: BundlerContext) => string

interface PendingReport {
  fileName: FileNameOf
  model: string
  configFile: string | null
  report: QuantizeReport
}

/** A model emitted in this build, for `quantize-report.html` and the log's summary. */
interface EmittedModel {
  fileName: FileNameOf
  collected: CollectedModel
}

/** Debug CSVs (the cfg set debug_info_save_path) waiting for their model's final name. */
interface PendingCsv {
  fileName: FileNameOf
  csv: CsvFile[]
}

function createPlugin(userOptions: Options | undefined): ReturnType<UnpluginInstance<Options | undefined, false>['raw']> {
  // validated now, not at build start: a wrong option fails where the config is loaded
  const options: ResolvedOptions = resolveOptions(userOptions)
  const stats: QuantizeStats = newStats()
  let root = process.cwd()
  let serve = false
  let base = '/'
  // Vite dev only: models served from memory by a middleware (`emitFile` does not exist there)
  let dev: DevModels | null = null
  let quantizer: ModelQuantizer | null = null
  let accepts: (file: string) => boolean = () => false
  let reports: PendingReport[] = []
  let emitted: EmittedModel[] = []
  let debugCsv: PendingCsv[] = []
  // Vite only: the public folder (absolute; null when there is none or it is not copied), from
  // configResolved
  let publicDir: string | null = null
  // `vite build`: public models being quantized since buildStart, emitted in generateBundle
  let publicWork: Promise<PublicModel[]> | null = null
  // Vite only: this build's resolved config, and for a worker bundle whose main build runs this
  // plugin too, that build's config and the worker's bundle chain (configResolved)
  let viteBuild: { config: object; worker: { mainConfig: object; chain: readonly string[] | undefined } | null } | null = null
  // Vite only: how a `new URL` path that is not relative (an alias) resolves (configResolved)
  let newUrlResolver: NewUrlResolver | null = null
  // Vite's logger (configResolved); otherwise the bundler context's `info`, else the console
  let viteInfo: ((message: string) => void) | null = null
  // the quantizer (and its cache) outlives a build in watch mode; its warnings go to the current one
  let warn: (message: string) => void = (message) => console.warn(`[unplugin-quantize] ${message}`)
  // progress of long quantizations: Vite's logger, else the current build's `info`, else the console
  let buildInfo: (message: string) => void = (message) => console.log(message)
  const info = (message: string): void => (viteInfo ?? buildInfo)(message)
  const logger = { warn: (message: string) => warn(message), info }

  const api: QuantizePluginApi = { stats: () => ({ ...stats }) }

  // Rolldown in watch mode: inputs that do not exist yet, watched for appearing (appearing-paths.ts)
  let appearing: AppearingPaths | null = null
  /**
   * Read `model`'s cfg and calibration folders, and watch them, so that a watch build rebuilds
   * when one changes or appears: what was read, for the quantizer.
   */
  const watchInputs = async (ctx: BundlerContext, q: ModelQuantizer, model: string): Promise<PreparedModel> => {
    const prepared = await q.prepare(model)
    const watch = watchList(prepared)
    // a folder is watched as itself (a file added to it) and through its files (an edit)
    for (const f of [...watch.files, ...watch.missing, ...watch.dirs, ...watch.dirFiles]) ctx.addWatchFile(f)
    // Rollup's chokidar sees a missing path appear by itself; Rolldown's watcher does not
    if (!ctx.meta?.watchMode || typeof ctx.meta.rolldownVersion !== 'string') return prepared
    const missing = [...watch.missing, ...watch.dirs.filter((d) => !fs.existsSync(d))]
    if (missing.length === 0) return prepared
    appearing ??= new AppearingPaths()
    appearing.watch(missing)
    ctx.addWatchFile(appearing.file)
    return prepared
  }

  /**
   * Public models go into the bundle at their own path (public URLs are not hashed), replacing
   * the float file Vite copied; their reports and CSVs sit beside them like any model's.
   */
  const emitPublic = (ctx: BundlerContext, done: readonly PublicModel[]): void => {
    for (const { model, outcome, collected } of done) {
      if (!outcome.ok) ctx.error(outcome.message)
      if (outcome.warning) ctx.warn(outcome.warning)
      const name = publicFileName(publicDir!, model)
      const fileName: FileNameOf = () => name
      const { result } = outcome
      // a model that failed with onError 'warn' stays as Vite copied it (the original)
      if (result.kind === 'quantized') {
        ctx.emitFile({ type: 'asset', fileName: name, source: result.bytes })
        if (options.reports.includes('json')) reports.push({ fileName, model, configFile: result.configFile, report: result.report })
        if (result.debugCsv.length > 0) debugCsv.push({ fileName, csv: result.debugCsv })
      }
      if (collected) emitted.push({ fileName, collected })
    }
  }

  const hooks = {
    api,
    async buildStart(this: BundlerContext): Promise<void> {
      accepts = createModelFilter(root, options.include, options.exclude)
      warn = (message) => this.warn(message)
      // Rollup and Rolldown put '[plugin unplugin-quantize]' before a plugin's info lines themselves
      if (typeof this.info === 'function') buildInfo = (message) => this.info!(message.replace(`[${PLUGIN_NAME}] `, ''))
      quantizer ??= new ModelQuantizer(options, root, logger, stats)
      reports = []
      emitted = []
      debugCsv = []
      publicWork = null
      appearing?.reset()
      if (!serve && publicDir) {
        // watched here (addWatchFile is not allowed once the bundle is generated), so that
        // `vite build --watch` rebuilds when a public model or its cfg changes
        const q = quantizer
        const models = listPublicModels(publicDir, accepts, (m) => q.configOf(m) !== null)
        const prepared: PreparedModel[] = []
        for (const m of models) prepared.push(await watchInputs(this, q, m))
        publicWork = Promise.all(prepared.map(async (p): Promise<PublicModel> => ({ model: p.model, ...(await quantizeAndCollect(q, p, options, root)) })))
        // awaited in generateBundle; a build that fails before that must not leave it unhandled
        publicWork.catch(() => undefined)
      }
    },
    async resolveId(this: BundlerContext, source: string, importer: string | undefined): Promise<string | null> {
      if (source.startsWith(PREFIX)) return null
      const file = modelRequest(source)
      if (file === null) return null
      const resolved = await this.resolve(file, importer, { skipSelf: true })
      if (!resolved || resolved.external) return null
      const abs = resolved.id.split('?')[0]!
      return accepts(abs) ? modelId(abs) : null
    },
    async load(this: BundlerContext, id: string): Promise<string | null> {
      if (!id.startsWith(PREFIX) || !quantizer) return null
      const model = modelOfId(id)
      if (dev) {
        // quantized when the module first loads, then held until an input changes on disk
        const outcome = await dev.ensure(model)
        if (!outcome.ok) this.error(outcome.message)
        return `export default ${JSON.stringify(outcome.entry.url)}`
      }
      // rebuild in watch mode when the model, its cfg or its calibration data changes
      const prepared = await watchInputs(this, quantizer, model)
      const { outcome, collected } = await quantizeAndCollect(quantizer, prepared, options, root)
      if (!outcome.ok) this.error(outcome.message)
      if (outcome.warning) this.warn(outcome.warning)
      const result = outcome.result
      // an asset with `name` gets the bundler's content-hashed file name (assets/m-<hash>.onnx)
      const referenceId = this.emitFile({ type: 'asset', name: path.basename(model), source: result.bytes })
      const fileName: FileNameOf = (ctx) => ctx.getFileName(referenceId)
      if (result.kind === 'quantized' && options.reports.includes('json')) {
        reports.push({ fileName, model, configFile: result.configFile, report: result.report })
      }
      if (result.kind === 'quantized' && result.debugCsv.length > 0) debugCsv.push({ fileName, csv: result.debugCsv })
      if (collected) emitted.push({ fileName, collected })
      return `export default import.meta.ROLLUP_FILE_URL_${referenceId}`
    },
    async transform(this: BundlerContext, code: string, id: string): Promise<RewrittenModule | null> {
      if (id.startsWith('\0') || !/\.(?:[cm]?[jt]sx?|vue|svelte)(?:\?|$)/.test(id)) return null
      const file = id.split('?')[0]!
      const imported: { model: NewUrlModel; spec: string }[] = []
      const rewritten = await rewriteNewUrl(code, async (model) => {
        const spec = await newUrlImport(file, model.spec, accepts, newUrlResolver)
        if (spec !== null) imported.push({ model, spec })
        return spec
      }, file)
      // resolved here so that a missing model is reported at the user's `new URL`, not at the
      // import line appended to the end of the module
      for (const { model, spec } of imported) {
        const found = await this.resolve(spec, id, { skipSelf: true })
        if (!found) this.error(`unplugin-quantize: cannot resolve ${JSON.stringify(model.spec)} in new URL(..., import.meta.url)`, model.start)
      }
      return rewritten
    },
    buildEnd(error?: Error): void {
      // the build has listed what is still missing: watchers of folders for the rest go. Not
      // after a failed build, which may have stopped before listing a model's paths: those are
      // not seen appearing until the next build lists them again, which then finds their
      // folders still watched rather than starting the watchers anew
      if (!error) appearing?.prune()
    },
    closeWatcher(): void {
      appearing?.close()
      appearing = null
    },
    async generateBundle(this: BundlerContext, _output: unknown, bundle: OutputBundleLike): Promise<void> {
      if (publicWork) emitPublic(this, await publicWork)
      // the model's final name is known only now; the report sits beside it under that name
      for (const r of reports) {
        const f = reportFile(r, r.fileName(this), root)
        this.emitFile({ type: 'asset', fileName: f.fileName, source: f.source })
      }
      for (const d of debugCsv) {
        for (const f of debugCsvFiles(d.fileName(this), d.csv)) this.emitFile({ type: 'asset', fileName: f.fileName, source: f.source })
      }
      const rel = (p: string) => path.relative(root, p).split(path.sep).join('/')
      const own = emitted.map((e) => buildReportModel(e.collected, e.fileName(this), rel))
      // what this bundle starts: which workers' models the main build lists (worker-reports.ts)
      const refs = (mainConfig: object) => bundleRefs(mainConfig, bundle, this.getModuleIds?.() ?? [])
      if (viteBuild?.worker) {
        saveWorkerModels(viteBuild.worker.mainConfig, viteBuild.worker.chain, bundle, own, refs(viteBuild.worker.mainConfig))
        return
      }
      const models = viteBuild ? mergeModels(own, workerModels(viteBuild.config, refs(viteBuild.config))) : own
      if (models.length === 0) return
      models.sort((a, b) => a.source.localeCompare(b.source))
      if (options.reports.includes('html')) {
        this.emitFile({ type: 'asset', fileName: HTML_REPORT_FILE, source: renderReportHtml(models, { title: 'unplugin-quantize build report' }) })
      }
      const info = viteInfo ?? (typeof this.info === 'function' ? (m: string) => this.info!(m.replace(`[${PLUGIN_NAME}] `, '')) : (m: string) => console.log(m))
      info(`[${PLUGIN_NAME}] ${models.length} model${models.length === 1 ? '' : 's'}:\n${summaryTable(models)}`)
    },
  }

  const vite = {
    ...hooks,
    // `.onnx` is not a Vite asset type: without this, `new URL('./m.onnx', import.meta.url)` and
    // models this plugin leaves alone (exclude) would be parsed as JavaScript
    config: (config: { root?: string }) => ({
      assetsInclude: ['**/*.onnx'],
      // the cache never sits in a watched folder: writing it must not trigger anything
      server: { watch: { ignored: [path.join(path.resolve(config.root ?? process.cwd(), options.cacheDir), '**')] } },
    }),
    configResolved(config: ViteResolvedConfig): void {
      root = config.root
      const main = config.isWorker ? config.mainConfig : null
      const mainRunsUs = !!main?.plugins?.some((p) => p.name === PLUGIN_NAME)
      viteBuild = { config, worker: main && mainRunsUs ? { mainConfig: main, chain: config.bundleChain } : null }
      // '' when `publicDir: false`; a build with `copyPublicDir: false` ships none of it
      publicDir = config.publicDir && config.build?.copyPublicDir !== false ? config.publicDir : null
      accepts = createModelFilter(root, options.include, options.exclude)
      newUrlResolver = viteNewUrlResolver(config)
      const logger = config.logger
      if (logger) viteInfo = (message) => logger.info(message)
      serve = config.command === 'serve'
      base = /^\/(?:.*\/)?$/.test(config.base) ? config.base : '/'
    },
    configureServer(server: DevServerLike): void {
      dev = new DevModels({
        options,
        root,
        base,
        moduleId: modelId,
        quantizer: () => (quantizer ??= new ModelQuantizer(options, root, logger, stats)),
        warn: (message) => warn(message),
        ignored: [path.resolve(root, options.cacheDir)],
        // `/models/m.onnx` from the public folder: served quantized, before Vite's static handler
        publicModel: (url) => {
          const dir = publicDir
          if (!dir) return null
          const model = publicModelForUrl(dir, base, url)
          return model && accepts(model) && (quantizer ??= new ModelQuantizer(options, root, logger, stats)).configOf(model) ? model : null
        },
      })
      dev.attach(server)
    },
    writeBundle(output: { dir?: string }): void {
      if (serve || !publicDir || !output.dir || !quantizer) return
      const q = quantizer
      const models = listPublicModels(publicDir, accepts, (m) => q.configOf(m) !== null)
      removeCopiedConfigs(path.resolve(root, output.dir), publicDir, models)
    },
    async closeBundle(): Promise<void> {
      if (serve) await dev?.close()
    },
  }

  return {
    name: PLUGIN_NAME,
    // before Vite's asset plugin, which would otherwise claim `?url` imports
    enforce: 'pre',
    vite: vite as unknown as Partial<VitePlugin>,
    rollup: hooks,
    rolldown: hooks as unknown as Partial<VitePlugin>,
  }
}

export const unplugin: UnpluginInstance<Options | undefined, false> = createUnplugin<Options | undefined, false>(createPlugin)
export default unplugin

import { createHash } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import type { Compilation, Compiler, LoaderContext } from 'webpack'
import { buildReportModel, HTML_REPORT_FILE, quantizeAndCollect, renderReportHtml, summaryTable, type CollectedModel, type ReportModel } from './build-report.js'
import { createModelFilter } from './filter.js'
import { siblingConfigs } from './find-config.js'
import { resolveOptions, type Options, type ResolvedOptions } from './options.js'
import { ModelQuantizer, newStats, type QuantizeStats } from './quantize-asset.js'
import { debugCsvFiles, reportFile, type PendingReport } from './shared.js'
import type { CsvFile } from '../../src/report/debug-csv/debug-csv-files.js'
import { digestBytes } from '../../src/cache/hash.js'
import { watchList } from './watch-inputs.js'
import type { QuantizePluginApi } from './unplugin.js'

const NAME = 'unplugin-quantize'

// the module's buildInfo field holding its pending `.quant.json` (plain JSON, so webpack's
// persistent cache serializes it)
const REPORT_KEY = 'unpluginQuantizeReport'
// the module's buildInfo field with what `quantize-report.html` and the log summary show
const COLLECTED_KEY = 'unpluginQuantizeModel'
// the module's buildInfo field with the debug CSVs its cfg asked for (debug_info_save_path)
const DEBUG_CSV_KEY = 'unpluginQuantizeDebugCsv'

/**
 * webpack plugin. Models are webpack asset modules (`type: 'asset/resource'`) whose content is
 * the quantized bytes: the plugin supplies those bytes when webpack reads the file (the
 * `readResource` hook, a Buffer end to end, no loader), so webpack hashes and names the file with
 * its own `assetModuleFilename`. `import url from './m.onnx'` and
 * `new URL('./m.onnx', import.meta.url)` both work.
 */
export class QuantizeWebpackPlugin {
  readonly name = NAME
  readonly api: QuantizePluginApi
  private readonly options: ResolvedOptions
  private readonly stats: QuantizeStats = newStats()

  constructor(userOptions?: Options) {
    // validated now: a wrong option fails where the config is loaded
    this.options = resolveOptions(userOptions)
    this.api = { stats: () => ({ ...this.stats }) }
  }

  apply(compiler: Compiler): void {
    const options = this.options
    const root = compiler.context
    const accepts = createModelFilter(root, options.include, options.exclude)
    const isModel = (file: string): boolean => /\.onnx$/i.test(file) && accepts(file)
    let quantizer: ModelQuantizer | null = null
    let warn: (message: string) => void = (message) => console.warn(`[${NAME}] ${message}`)

    // webpack's filesystem cache keeps a module's bytes between runs, and ours depend on options
    // webpack does not see (defaultConfig, include/exclude, verify): one cache version per set of them
    const cache = compiler.options.cache
    if (cache && typeof cache === 'object' && cache.type === 'filesystem') {
      cache.version = [cache.version, `${NAME}:${optionsFingerprint(options)}`].filter(Boolean).join('|')
    }

    // `import url from './m.onnx'` becomes an asset module; `new URL(...)` already is one. First
    // among the rules: webpack takes the type of the last matching rule, so a user's own rule for
    // models (asset/inline, asset with a size limit) stands, and gets the quantized bytes too
    compiler.options.module.rules.unshift({ resource: isModel, type: 'asset/resource' })

    const { NormalModule, Compilation, sources, WebpackError } = compiler.webpack

    /**
     * `.onnx` assets other plugins emitted (copy-webpack-plugin's copied statics and the like),
     * not already quantized as modules: each keeps its name and gets the quantized bytes. The
     * source file comes from the asset's `sourceFilename` (the convention copy-webpack-plugin and
     * webpack's asset modules follow); an asset without one, or whose bytes differ from that
     * file (another plugin transformed it), is left alone.
     */
    const quantizeCopiedAssets = async (compilation: Compilation, q: ModelQuantizer, handled: ReadonlySet<string>): Promise<{ fileName: string; collected: CollectedModel }[]> => {
      const found: { fileName: string; model: string }[] = []
      for (const asset of compilation.getAssets()) {
        if (!/\.onnx$/i.test(asset.name) || handled.has(asset.name)) continue
        const source = asset.info.sourceFilename
        if (typeof source !== 'string') continue
        const model = path.resolve(root, source)
        if (!isModel(model) || q.configOf(model) === null) continue
        let same = false
        try {
          same = digestBytes(asset.source.buffer()).sha256 === digestBytes(await fs.readFile(model)).sha256
        } catch {
          // the source file is gone: nothing to quantize from
        }
        if (same) found.push({ fileName: asset.name, model })
        else warn(`${asset.name}: its bytes differ from ${source} (another plugin changed them); left as it is`)
      }
      const out: { fileName: string; collected: CollectedModel }[] = []
      await Promise.all(found.map(async ({ fileName, model }) => {
        const prepared = await q.prepare(model)
        const { outcome, collected } = await quantizeAndCollect(q, prepared, options, root)
        if (!outcome.ok) {
          compilation.errors.push(new WebpackError(outcome.message))
          return
        }
        if (outcome.warning) warn(outcome.warning)
        const { result } = outcome
        // the copy's inputs: `webpack --watch` rebuilds when the model or its cfg changes
        const watch = watchList(prepared)
        for (const f of watch.files) compilation.fileDependencies.add(f)
        for (const f of watch.missing) compilation.missingDependencies.add(f)
        for (const d of watch.dirs) compilation.contextDependencies.add(d)
        if (result.kind === 'quantized') {
          const bytes = Buffer.from(result.bytes.buffer, result.bytes.byteOffset, result.bytes.byteLength)
          compilation.updateAsset(fileName, new sources.RawSource(bytes))
          if (options.reports.includes('json')) {
            const report = reportFile({ model, configFile: result.configFile, report: result.report }, fileName, root)
            if (!compilation.getAsset(report.fileName)) compilation.emitAsset(report.fileName, new sources.RawSource(report.source))
          }
          for (const f of debugCsvFiles(fileName, result.debugCsv)) {
            if (!compilation.getAsset(f.fileName)) compilation.emitAsset(f.fileName, new sources.RawSource(f.source))
          }
        }
        dropCopiedConfigs(compilation, model)
        if (collected) out.push({ fileName, collected })
      }))
      return out.sort((a, b) => a.fileName.localeCompare(b.fileName))
    }

    /**
     * The copied cfg files of a copied model are build inputs (they may name local paths), not
     * files the app serves: they leave the bundle.
     */
    const dropCopiedConfigs = (compilation: Compilation, model: string): void => {
      const cfgs = new Set(siblingConfigs(model).map((c) => path.relative(root, c).split(path.sep).join('/')))
      for (const asset of compilation.getAssets()) {
        const source = asset.info.sourceFilename
        if (typeof source === 'string' && cfgs.has(source.split(path.sep).join('/'))) compilation.deleteAsset(asset.name)
      }
    }

    compiler.hooks.thisCompilation.tap(NAME, (compilation) => {
      warn = (message) => compilation.warnings.push(new WebpackError(`[${NAME}] ${message}`))
      // progress goes to webpack's infrastructure log (shown while it builds, watch mode included)
      const progressLog = compiler.getInfrastructureLogger(NAME)
      quantizer ??= new ModelQuantizer(options, root, { warn: (message) => warn(message), info: (message) => progressLog.info(message.replace(`[${NAME}] `, '')) }, this.stats)
      const q = quantizer

      NormalModule.getCompilationHooks(compilation).readResource.for(undefined).tapAsync(
        // before webpack's own file reader (FileUriPlugin): a result here ends the hook
        { name: NAME, stage: -10 },
        (loaderContext: LoaderContext<unknown>, callback: (err: Error | null, result?: Buffer) => void) => {
          const model = loaderContext.resourcePath
          if (!isModel(model)) return callback(null)
          // the model, its cfg and its calibration folders (a folder is a context dependency:
          // a file added to it, edited or removed rebuilds this module, and only this one)
          q.prepare(model).then((prepared) => {
            const watch = watchList(prepared)
            for (const f of watch.files) loaderContext.addDependency(f)
            for (const f of watch.missing) loaderContext.addMissingDependency(f)
            for (const d of watch.dirs) loaderContext.addContextDependency(d)
            return quantizeAndCollect(q, prepared, options, root)
          }).then(({ outcome, collected }) => {
            if (!outcome.ok) return callback(new Error(outcome.message))
            if (outcome.warning) loaderContext.emitWarning(new Error(outcome.warning))
            const { result } = outcome
            // kept on the module: webpack's memory and filesystem caches restore it with the module
            const buildInfo = loaderContext._module?.buildInfo
            if (buildInfo && result.kind === 'quantized' && options.reports.includes('json')) {
              buildInfo[REPORT_KEY] = { model, configFile: result.configFile, report: result.report } satisfies PendingReport
            }
            if (buildInfo && collected) buildInfo[COLLECTED_KEY] = collected
            if (buildInfo && result.kind === 'quantized' && result.debugCsv.length > 0) buildInfo[DEBUG_CSV_KEY] = result.debugCsv
            callback(null, Buffer.from(result.bytes.buffer, result.bytes.byteOffset, result.bytes.byteLength))
          }, (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))))
        },
      )

      // After other plugins' additions (copy-webpack-plugin adds at ADDITIONAL), so that `.onnx`
      // files they emitted are quantized too and listed in the same report.
      compilation.hooks.processAssets.tapPromise({ name: NAME, stage: Compilation.PROCESS_ASSETS_STAGE_ADDITIONS + 1 }, async () => {
        const emit = (fileName: string, source: string): void => {
          if (!compilation.getAsset(fileName)) compilation.emitAsset(fileName, new sources.RawSource(source))
        }
        // the model's final (hashed) name is known only now; the report sits beside it
        const handled = new Set<string>()
        for (const module of compilation.modules) {
          const fileName = module.buildInfo?.filename as string | undefined
          if (typeof fileName !== 'string' || !compilation.getAsset(fileName)) continue
          const resource = (module as { resource?: unknown }).resource
          if (typeof resource === 'string' && isModel(resource.split('?')[0]!)) handled.add(fileName)
          const pending = module.buildInfo?.[REPORT_KEY] as PendingReport | undefined
          if (pending) {
            const report = reportFile(pending, fileName, root)
            emit(report.fileName, report.source)
          }
          const csv = module.buildInfo?.[DEBUG_CSV_KEY] as CsvFile[] | undefined
          for (const f of debugCsvFiles(fileName, csv ?? [])) emit(f.fileName, f.source)
        }
        const copied = await quantizeCopiedAssets(compilation, q, handled)
        const models: ReportModel[] = []
        const rel = (p: string) => path.relative(root, p).split(path.sep).join('/')
        for (const module of compilation.modules) {
          const collected = module.buildInfo?.[COLLECTED_KEY] as CollectedModel | undefined
          if (!collected) continue
          const fileName = module.buildInfo?.filename as string | undefined
          // a user's asset/inline rule (or asset under its size limit): in the bundle as a data URL, listed without a file
          const emitted = typeof fileName === 'string' && compilation.getAsset(fileName) ? fileName : null
          if (emitted === null && typeof fileName === 'string') continue
          // restored from webpack's own cache: the plugin did not even look at the model
          const fromWebpackCache = collected.kind === 'quantized' && !compilation.builtModules.has(module)
          models.push(buildReportModel(collected, emitted, rel, fromWebpackCache ? 'cache hit (webpack cache)' : undefined))
        }
        for (const c of copied) models.push(buildReportModel(c.collected, c.fileName, rel))
        if (models.length === 0) return
        models.sort((a, b) => a.source.localeCompare(b.source))
        if (options.reports.includes('html') && !compilation.getAsset(HTML_REPORT_FILE)) {
          compilation.emitAsset(HTML_REPORT_FILE, new sources.RawSource(renderReportHtml(models, { title: 'unplugin-quantize build report' })))
        }
        compilation.getLogger(NAME).info(`${models.length} model${models.length === 1 ? '' : 's'}:\n${summaryTable(models)}`)
      })
    })
  }
}

export function quantizeWebpack(options?: Options): QuantizeWebpackPlugin {
  return new QuantizeWebpackPlugin(options)
}

/** A hash of the options that change what a model module holds (not where the cache is, nor how many run at once). */
function optionsFingerprint(options: ResolvedOptions): string {
  const { include, exclude, defaultConfig, onError, verify } = options
  const text = JSON.stringify({ include, exclude, defaultConfig, onError, verify }, (_key, value: unknown) => (value instanceof RegExp ? String(value) : value))
  return createHash('sha256').update(text).digest('hex').slice(0, 16)
}

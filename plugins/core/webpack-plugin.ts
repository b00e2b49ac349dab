import type { Compiler, LoaderContext } from 'webpack'
import path from 'node:path'
import { buildReportModel, HTML_REPORT_FILE, quantizeAndCollect, renderReportHtml, summaryTable, type CollectedModel, type ReportModel } from './build-report.js'
import { createModelFilter } from './filter.js'
import { resolveOptions, type Options, type ResolvedOptions } from './options.js'
import { ModelQuantizer, newStats, type QuantizeStats } from './quantize-asset.js'
import { reportFile, type PendingReport } from './shared.js'
import { watchList } from './watch-inputs.js'
import type { QuantizePluginApi } from './unplugin.js'

const NAME = 'unplugin-quantize'

// the module's buildInfo field holding its pending `.quant.json` (plain JSON, so webpack's
// persistent cache serializes it)
const REPORT_KEY = 'unpluginQuantizeReport'
// the module's buildInfo field with what `quantize-report.html` and the log summary show
const COLLECTED_KEY = 'unpluginQuantizeModel'

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

    // `import url from './m.onnx'` becomes an asset module; `new URL(...)` already is one
    compiler.options.module.rules.push({ resource: isModel, type: 'asset/resource' })

    const { NormalModule, Compilation, sources, WebpackError } = compiler.webpack

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
          watchList(model, q.configOf(model)).then((watch) => {
            for (const f of watch.files) loaderContext.addDependency(f)
            for (const f of watch.missing) loaderContext.addMissingDependency(f)
            for (const d of watch.dirs) loaderContext.addContextDependency(d)
            return quantizeAndCollect(q, model, options, root)
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
            callback(null, Buffer.from(result.bytes.buffer, result.bytes.byteOffset, result.bytes.byteLength))
          }, (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))))
        },
      )

      compilation.hooks.processAssets.tap({ name: NAME, stage: Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL }, () => {
        // the model's final (hashed) name is known only now; the report sits beside it
        for (const module of compilation.modules) {
          const pending = module.buildInfo?.[REPORT_KEY] as PendingReport | undefined
          const fileName = module.buildInfo?.filename as string | undefined
          if (!pending || typeof fileName !== 'string' || !compilation.getAsset(fileName)) continue
          const report = reportFile(pending, fileName, root)
          if (!compilation.getAsset(report.fileName)) compilation.emitAsset(report.fileName, new sources.RawSource(report.source))
        }
        const models: ReportModel[] = []
        const rel = (p: string) => path.relative(root, p).split(path.sep).join('/')
        for (const module of compilation.modules) {
          const collected = module.buildInfo?.[COLLECTED_KEY] as CollectedModel | undefined
          const fileName = module.buildInfo?.filename as string | undefined
          if (!collected || typeof fileName !== 'string' || !compilation.getAsset(fileName)) continue
          // restored from webpack's own cache: the plugin did not even look at the model
          const fromWebpackCache = collected.kind === 'quantized' && !compilation.builtModules.has(module)
          models.push(buildReportModel(collected, fileName, rel, fromWebpackCache ? 'cache hit (webpack cache)' : undefined))
        }
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

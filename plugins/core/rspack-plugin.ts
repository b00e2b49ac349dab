import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Compiler, LoaderContext } from '@rspack/core'
import { buildReportModel, HTML_REPORT_FILE, quantizeAndCollect, renderReportHtml, summaryTable, type CollectedModel, type ReportModel } from './build-report.js'
import { createModelFilter } from './filter.js'
import { resolveOptions, type Options, type ResolvedOptions } from './options.js'
import { ModelQuantizer, newStats, type QuantizeStats } from './quantize-asset.js'
import { reportFile, type PendingReport } from './shared.js'
import type { QuantizePluginApi } from './unplugin.js'
import { watchList } from './watch-inputs.js'

const NAME = 'unplugin-quantize'
// beside this module in plugins/core/ and in dist/plugins/core/ (the build copies it)
const LOADER = fileURLToPath(new URL('./rspack-loader.cjs', import.meta.url))
const REGISTRY = Symbol.for('unplugin-quantize/rspack-loaders')

type LoaderHandler = (ctx: LoaderContext<{ id: string }>, source: Buffer) => Promise<Buffer>

function registry(): Map<string, LoaderHandler> {
  const g = globalThis as { [REGISTRY]?: Map<string, LoaderHandler> }
  return (g[REGISTRY] ??= new Map())
}

let instances = 0

/**
 * rspack plugin. Models are asset modules (`type: 'asset/resource'`) whose content comes from a
 * raw loader (a Buffer end to end; rspack has no hook to supply a file's bytes), so rspack hashes
 * and names the quantized file with its own `assetModuleFilename`. `import url from './m.onnx'`
 * and `new URL('./m.onnx', import.meta.url)` both work. The reports are matched to the emitted
 * models through the assets' `sourceFilename`.
 */
export class QuantizeRspackPlugin {
  readonly name = NAME
  readonly api: QuantizePluginApi
  private readonly options: ResolvedOptions
  private readonly stats: QuantizeStats = newStats()
  private readonly id = `${process.pid}-${++instances}`

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
    let warn: (message: string) => void = (message) => console.warn(`[${NAME}] ${message}`)
    const progressLog = compiler.getInfrastructureLogger(NAME)
    const quantizer = new ModelQuantizer(options, root, { warn: (message) => warn(message), info: (message) => progressLog.info(message.replace(`[${NAME}] `, '')) }, this.stats)
    // what the loader produced per model; kept across watch rebuilds, where rspack reuses the
    // modules it did not rebuild (and so does not run the loader for them)
    const reports = new Map<string, PendingReport>()
    const collectedModels = new Map<string, CollectedModel>()

    registry().set(this.id, async (ctx, source) => {
      const model = ctx.resourcePath
      if (!isModel(model)) return source
      const watch = await watchList(model, quantizer.configOf(model))
      for (const f of watch.files) ctx.addDependency(f)
      for (const f of watch.missing) ctx.addMissingDependency(f)
      for (const d of watch.dirs) ctx.addContextDependency(d)
      const { outcome, collected } = await quantizeAndCollect(quantizer, model, options, root)
      if (!outcome.ok) throw new Error(outcome.message)
      if (outcome.warning) ctx.emitWarning(new Error(outcome.warning))
      const { result } = outcome
      if (result.kind === 'quantized' && options.reports.includes('json')) reports.set(model, { model, configFile: result.configFile, report: result.report })
      else reports.delete(model)
      if (collected) collectedModels.set(model, collected)
      return Buffer.from(result.bytes.buffer, result.bytes.byteOffset, result.bytes.byteLength)
    })
    compiler.hooks.shutdown.tap(NAME, () => void registry().delete(this.id))

    compiler.options.module.rules.push({ test: isModel, type: 'asset/resource', use: [{ loader: LOADER, options: { id: this.id } }] })

    const { Compilation, sources, WebpackError } = compiler.rspack
    compiler.hooks.thisCompilation.tap(NAME, (compilation) => {
      warn = (message) => compilation.warnings.push(new WebpackError(`[${NAME}] ${message}`))
      compilation.hooks.processAssets.tap({ name: NAME, stage: Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL }, () => {
        const rel = (p: string) => path.relative(root, p).split(path.sep).join('/')
        const models: ReportModel[] = []
        for (const asset of compilation.getAssets()) {
          const source = asset.info.sourceFilename
          if (typeof source !== 'string' || !asset.name.toLowerCase().endsWith('.onnx')) continue
          const model = path.resolve(root, source)
          const pending = reports.get(model)
          if (pending) {
            const report = reportFile(pending, asset.name, root)
            if (!compilation.getAsset(report.fileName)) compilation.emitAsset(report.fileName, new sources.RawSource(report.source))
          }
          const collected = collectedModels.get(model)
          if (collected) models.push(buildReportModel(collected, asset.name, rel))
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

export function quantizeRspack(options?: Options): QuantizeRspackPlugin {
  return new QuantizeRspackPlugin(options)
}

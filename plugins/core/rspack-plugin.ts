import fs from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Compilation, Compiler, LoaderContext } from '@rspack/core'
import { digestBytes } from '../../src/cache/hash.js'
import { buildReportModel, HTML_REPORT_FILE, quantizeAndCollect, renderReportHtml, summaryTable, type CollectedModel, type ReportModel } from './build-report.js'
import { createModelFilter } from './filter.js'
import { siblingConfigs } from './find-config.js'
import { resolveOptions, type Options, type ResolvedOptions } from './options.js'
import { ModelQuantizer, newStats, type QuantizeStats } from './quantize-asset.js'
import { debugCsvFiles, reportFile, type PendingReport } from './shared.js'
import type { CsvFile } from '../../src/report/debug-csv/debug-csv-files.js'
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
    const debugCsv = new Map<string, CsvFile[]>()
    // sha256 of each model's emitted bytes: models whose outputs are identical share one asset,
    // named after one of them, and the others are found by their bytes
    const emittedSha = new Map<string, string>()

    registry().set(this.id, async (ctx, source) => {
      const model = ctx.resourcePath
      if (!isModel(model)) return source
      const prepared = await quantizer.prepare(model)
      const watch = watchList(prepared)
      for (const f of watch.files) ctx.addDependency(f)
      for (const f of watch.missing) ctx.addMissingDependency(f)
      for (const d of watch.dirs) ctx.addContextDependency(d)
      const { outcome, collected } = await quantizeAndCollect(quantizer, prepared, options, root)
      if (!outcome.ok) throw new Error(outcome.message)
      if (outcome.warning) ctx.emitWarning(new Error(outcome.warning))
      const { result } = outcome
      if (result.kind === 'quantized' && options.reports.includes('json')) reports.set(model, { model, configFile: result.configFile, report: result.report })
      else reports.delete(model)
      if (result.kind === 'quantized' && result.debugCsv.length > 0) debugCsv.set(model, result.debugCsv)
      else debugCsv.delete(model)
      if (collected) collectedModels.set(model, collected)
      emittedSha.set(model, digestBytes(result.bytes).sha256)
      return Buffer.from(result.bytes.buffer, result.bytes.byteOffset, result.bytes.byteLength)
    })
    compiler.hooks.shutdown.tap(NAME, () => void registry().delete(this.id))

    compiler.options.module.rules.push({ test: isModel, type: 'asset/resource', use: [{ loader: LOADER, options: { id: this.id } }] })

    const { Compilation, sources, WebpackError } = compiler.rspack
    /**
     * The copied cfg files of a copied model are build inputs (they may name local paths), not
     * files the app serves: they leave the bundle.
     */
    const dropCopiedConfigs = (compilation: Compilation, model: string, modelAsset: string): void => {
      // copies keep their folder: the cfg's copy sits beside the model's copy
      const dir = path.posix.dirname(modelAsset)
      for (const cfg of siblingConfigs(model)) {
        const name = dir === '.' ? path.basename(cfg) : `${dir}/${path.basename(cfg)}`
        if (compilation.getAsset(name)?.info.copied === true) compilation.deleteAsset(name)
      }
    }

    compiler.hooks.thisCompilation.tap(NAME, (compilation) => {
      warn = (message) => compilation.warnings.push(new WebpackError(`[${NAME}] ${message}`))
      // after other plugins' additions, so CopyRspackPlugin's copies are there to quantize
      compilation.hooks.processAssets.tapPromise({ name: NAME, stage: Compilation.PROCESS_ASSETS_STAGE_ADDITIONS + 1 }, async () => {
        const rel = (p: string) => path.relative(root, p).split(path.sep).join('/')
        const models: ReportModel[] = []
        const emit = (fileName: string, source: string): void => {
          if (!compilation.getAsset(fileName)) compilation.emitAsset(fileName, new sources.RawSource(source))
        }
        // Copied statics (CopyRspackPlugin marks them `copied`, with their `sourceFilename`) keep
        // their names and get the quantized bytes; one whose bytes differ from its source file
        // (another plugin transformed it) is left alone.
        const copies = compilation.getAssets().filter((a) => a.info.copied === true && typeof a.info.sourceFilename === 'string' && /\.onnx$/i.test(a.name))
        await Promise.all(copies.map(async (asset) => {
          const source = asset.info.sourceFilename as string
          const model = await copySource(compiler, root, source, asset.source.buffer())
          if (model === null) {
            warn(`${asset.name}: no file ${source} with the same bytes in the project (another plugin changed them?); left as it is`)
            return
          }
          if (!isModel(model)) return
          const prepared = await quantizer.prepare(model)
          if (prepared.config === null) return
          const { outcome, collected } = await quantizeAndCollect(quantizer, prepared, options, root)
          if (!outcome.ok) {
            compilation.errors.push(new WebpackError(outcome.message))
            return
          }
          if (outcome.warning) warn(outcome.warning)
          const watch = watchList(prepared)
          compilation.fileDependencies.add(model)
          for (const f of watch.files) compilation.fileDependencies.add(f)
          for (const f of watch.missing) compilation.missingDependencies.add(f)
          for (const d of watch.dirs) compilation.contextDependencies.add(d)
          const { result } = outcome
          if (result.kind === 'quantized') {
            compilation.updateAsset(asset.name, new sources.RawSource(Buffer.from(result.bytes.buffer, result.bytes.byteOffset, result.bytes.byteLength)))
            if (options.reports.includes('json')) {
              const report = reportFile({ model, configFile: result.configFile, report: result.report }, asset.name, root)
              emit(report.fileName, report.source)
            }
            for (const f of debugCsvFiles(asset.name, result.debugCsv)) emit(f.fileName, f.source)
          }
          dropCopiedConfigs(compilation, model, asset.name)
          if (collected) models.push(buildReportModel(collected, asset.name, rel))
        }))
        const moduleAssets = compilation.getAssets().filter((a) => a.info.copied !== true && typeof a.info.sourceFilename === 'string' && a.name.toLowerCase().endsWith('.onnx'))
        const listed = new Set<string>()
        // asset name by the sha256 of its bytes, known from the loader for the models it ran on
        const byBytes = new Map<string, string>()
        for (const asset of moduleAssets) {
          const model = path.resolve(root, asset.info.sourceFilename as string)
          listed.add(model)
          const sha = emittedSha.get(model)
          if (sha) byBytes.set(sha, asset.name)
          const pending = reports.get(model)
          if (pending) {
            const report = reportFile(pending, asset.name, root)
            if (!compilation.getAsset(report.fileName)) compilation.emitAsset(report.fileName, new sources.RawSource(report.source))
          }
          for (const f of debugCsvFiles(asset.name, debugCsv.get(model) ?? [])) {
            if (!compilation.getAsset(f.fileName)) compilation.emitAsset(f.fileName, new sources.RawSource(f.source))
          }
          const collected = collectedModels.get(model)
          if (collected) models.push(buildReportModel(collected, asset.name, rel))
        }
        // The other models behind a shared asset. The maps above keep every model the watch
        // session has seen (a module rspack brings back from its cache runs no loader), so a
        // model dropped from the app is still in them, and its bytes may well be a current
        // asset's: only the models this compilation holds count.
        const inCompilation = new Set<string>()
        for (const module of compilation.modules) {
          const resource = (module as { resource?: unknown }).resource
          if (typeof resource === 'string') inCompilation.add(resource.split('?')[0]!)
        }
        const unlisted = [...collectedModels].filter(([model]) => !listed.has(model) && inCompilation.has(model))
        if (unlisted.length > 0) {
          // an asset whose module came from rspack's cache (the loader did not run) is hashed here
          for (const a of moduleAssets) if (!emittedSha.has(path.resolve(root, a.info.sourceFilename as string))) byBytes.set(digestBytes(a.source.buffer()).sha256, a.name)
          for (const [model, collected] of unlisted) {
            const name = byBytes.get(emittedSha.get(model) ?? '')
            if (name !== undefined) models.push(buildReportModel(collected, name, rel))
          }
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

/**
 * The file a CopyRspackPlugin copy came from. Its `sourceFilename` is relative to the pattern's
 * `from` folder (not to the context, as copy-webpack-plugin's is), so each pattern's folder is
 * tried, then the context; the first file with the asset's exact bytes wins. The patterns are
 * read from the plugin's constructor arguments (`_args`, how rspack's builtin plugins keep them).
 */
async function copySource(compiler: Compiler, root: string, source: string, bytes: Buffer): Promise<string | null> {
  const bases: string[] = []
  for (const plugin of compiler.options.plugins ?? []) {
    if (!plugin || (plugin as { name?: unknown }).name !== 'CopyRspackPlugin') continue
    const args = (plugin as { _args?: unknown })._args
    const patterns = Array.isArray(args) ? (args[0] as { patterns?: unknown } | undefined)?.patterns : undefined
    if (!Array.isArray(patterns)) continue
    for (const p of patterns as unknown[]) {
      const pattern = typeof p === 'string' ? { from: p } : (p as { from?: unknown; context?: unknown })
      if (typeof pattern.from !== 'string') continue
      const from = path.resolve(typeof pattern.context === 'string' ? path.resolve(root, pattern.context) : root, pattern.from)
      bases.push(from, path.dirname(from))
    }
  }
  bases.push(root)
  for (const base of new Set(bases)) {
    const candidate = path.resolve(base, source)
    try {
      if ((await fs.readFile(candidate)).equals(bytes)) return candidate
    } catch {
      // not there (or a folder): the next base
    }
  }
  return null
}

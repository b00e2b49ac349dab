import fs from 'node:fs/promises'
import path from 'node:path'
import type { Loader, OnLoadResult, PartialMessage, Plugin, PluginBuild } from 'esbuild'
import { buildReportModel, HTML_REPORT_FILE, quantizeAndCollect, renderReportHtml, summaryTable, type CollectedModel, type ReportModel } from './build-report.js'
import { createModelFilter } from './filter.js'
import { resolveOptions, type Options } from './options.js'
import { ModelQuantizer, newStats, type QuantizeStats } from './quantize-asset.js'
import { newUrlImport, rewriteNewUrl, type NewUrlModel } from './rewrite-new-url.js'
import { debugCsvFiles, reportFile, type ModelOutcome, type PendingReport } from './shared.js'
import type { CsvFile } from '../../src/report/debug-csv/debug-csv-files.js'
import { watchList, type WatchList } from './watch-inputs.js'
import { makeDirs } from '../../src/make-dirs.js'
import { writeFilesAtomic } from '../../src/write-atomic.js'
import type { QuantizePluginApi } from './unplugin.js'

const NAME = 'unplugin-quantize'
const NAMESPACE = 'file'
/** `./m.onnx?url` when the build's loader for `.onnx` is not 'file' (binary, say). */
const URL_NAMESPACE = 'unplugin-quantize-url'
const SCRIPT = /\.([cm]?[jt]sx?)$/

/** esbuild's default loader for a script's extension (the build's `loader` option comes first). */
const scriptLoader = (file: string): Loader => {
  const ext = SCRIPT.exec(file)?.[1] ?? 'js'
  return (ext.replace(/^[cm]/, '') as Loader)
}

/** esbuild's message location for code[start, end): 1-based line, 0-based column in UTF-8 bytes. */
function sourceLocation(code: string, start: number, end: number, file: string): NonNullable<PartialMessage['location']> {
  const lineStart = code.lastIndexOf('\n', start - 1) + 1
  const lineEnd = code.indexOf('\n', start)
  const lineText = code.slice(lineStart, lineEnd < 0 ? code.length : lineEnd).replace(/\r$/, '')
  const line = code.slice(0, lineStart).split('\n').length
  const column = Buffer.byteLength(code.slice(lineStart, start))
  return { file, line, column, length: Buffer.byteLength(code.slice(start, end)), lineText }
}

/** An esbuild plugin, with the counters on a (non-enumerable: esbuild rejects unknown keys) `api`. */
export type QuantizeEsbuildPlugin = Plugin & { readonly api: QuantizePluginApi }

/**
 * esbuild plugin. A model's `onLoad` returns the quantized bytes with `loader: 'file'` (unless the
 * build's `loader` option says otherwise for `.onnx`), so esbuild names the output with its own
 * `assetNames` hash and the import evaluates to its URL.
 * `new URL('./m.onnx', import.meta.url)` (which esbuild leaves alone) is rewritten to use such an
 * import; the `.quant.json` reports are written beside the models when the build ends.
 */
export function quantizeEsbuild(userOptions?: Options): QuantizeEsbuildPlugin {
  // validated now: a wrong option fails where the config is loaded
  const options = resolveOptions(userOptions)
  const stats: QuantizeStats = newStats()
  let quantizer: ModelQuantizer | null = null

  const plugin: Plugin = {
    name: NAME,
    setup(build: PluginBuild) {
      const initial = build.initialOptions
      const root = initial.absWorkingDir ?? process.cwd()
      const accepts = createModelFilter(root, options.include, options.exclude)
      // the metafile maps each emitted model back to its source
      initial.metafile = true
      let reports = new Map<string, PendingReport>()
      let collectedModels = new Map<string, CollectedModel>()
      let debugCsv = new Map<string, CsvFile[]>()
      let warn: (message: string) => void = (message) => console.warn(`[${NAME}] ${message}`)
      // esbuild has no logger for plugins: progress goes to the console unless the build is silent
      const info = (message: string) => { if (initial.logLevel !== 'silent') console.log(message) }
      const q = (quantizer ??= new ModelQuantizer(options, root, { warn: (message) => warn(message), info }, stats))
      // the user's `loader` settings stand: `'.js': 'jsx'` for the scripts rewritten below, and
      // `'.onnx': 'binary'` (or base64, dataurl) for imported models, which then get the
      // quantized bytes inline; `?url` (new URL) always wants a file
      const userLoader = (file: string): Loader | undefined => initial.loader?.[path.extname(file)]
      const onnxLoader: Loader = initial.loader?.['.onnx'] ?? 'file'
      // models loaded with another loader than 'file' are in no output's inputs: reported without a file
      let inlined = new Set<string>()
      // A model both imported (under a loader other than 'file') and named by a new URL is two
      // modules to esbuild, loaded separately: the second load takes the first one's result
      // rather than keying and reading the model again (and counting a second cache hit).
      // Emptied when the build ends: it holds every model's quantized bytes, and an idle
      // context() starts no next build to drop them.
      let loaded = new Map<string, Promise<{ watch: WatchList; outcome: ModelOutcome }>>()

      build.onStart(() => {
        reports = new Map()
        collectedModels = new Map()
        debugCsv = new Map()
        inlined = new Set()
        loaded = new Map()
      })

      // `./m.onnx?url` comes from the new-URL rewrite below (and from code written for Vite)
      build.onResolve({ filter: /\.onnx\?url$/i }, async (args) => {
        const result = await build.resolve(args.path.slice(0, -'?url'.length), { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, namespace: args.namespace })
        if (result.errors.length > 0) return { errors: result.errors }
        // a module of its own (a namespace: a suffix would end up in the URL) only when a plain
        // import of the model is not a file too; one asset for both otherwise
        if (onnxLoader !== 'file' && !result.external && result.namespace === NAMESPACE) return { path: result.path, namespace: URL_NAMESPACE }
        return { path: result.path, namespace: result.namespace, external: result.external }
      })

      build.onLoad({ filter: SCRIPT, namespace: NAMESPACE }, async (args) => {
        if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined
        const code = await fs.readFile(args.path, 'utf8')
        const imported: { model: NewUrlModel; spec: string }[] = []
        const rewritten = await rewriteNewUrl(code, async (model) => {
          const spec = await newUrlImport(args.path, model.spec, accepts)
          if (spec !== null) imported.push({ model, spec })
          return spec
        }, path.basename(args.path))
        if (rewritten === null) return undefined
        // resolved here so that a missing model is reported at the user's `new URL`, not at the
        // import line appended to the end of the file
        const errors: PartialMessage[] = []
        for (const { model, spec } of imported) {
          const found = await build.resolve(spec, { kind: 'import-statement', importer: args.path, resolveDir: path.dirname(args.path) })
          const location = sourceLocation(code, model.start, model.end, path.relative(root, args.path))
          for (const e of found.errors) errors.push({ text: e.text, location })
        }
        if (errors.length > 0) return { errors }
        // esbuild takes an input source map from the contents' own comment: with it, a
        // `--sourcemap` build maps the rewritten lines back to the file as written. A file with
        // a map of its own (compiled TypeScript) keeps that one: esbuild reads the last comment,
        // and the file's map reaches its real source (only columns on rewritten lines move)
        const ownMap = /^\/\/[#@] sourceMappingURL=/m.test(code)
        const contents = ownMap ? rewritten.code : `${rewritten.code}//# sourceMappingURL=${rewritten.map.toUrl()}\n`
        return { contents, loader: userLoader(args.path) ?? scriptLoader(args.path), resolveDir: path.dirname(args.path) }
      })

      const quantizeOnce = async (model: string): Promise<{ watch: WatchList; outcome: ModelOutcome }> => {
        const prepared = await q.prepare(model)
        const watch = watchList(prepared)
        const { outcome, collected } = await quantizeAndCollect(q, prepared, options, root)
        if (!outcome.ok) return { watch, outcome }
        if (collected) collectedModels.set(model, collected)
        const { result } = outcome
        if (result.kind === 'quantized' && options.reports.includes('json')) {
          reports.set(model, { model, configFile: result.configFile, report: result.report })
        }
        if (result.kind === 'quantized' && result.debugCsv.length > 0) debugCsv.set(model, result.debugCsv)
        return { watch, outcome }
      }

      const loadModel = async (model: string, loader: Loader): Promise<OnLoadResult | undefined> => {
        if (!accepts(model)) return undefined
        let work = loaded.get(model)
        const first = work === undefined
        if (work === undefined) loaded.set(model, (work = quantizeOnce(model)))
        const { watch, outcome } = await work
        const watchFiles = [...watch.files, ...watch.missing, ...watch.dirFiles]
        if (!outcome.ok) {
          // the model's one error, with the first load (as its warning with onError 'warn'); the
          // build fails with it, so a later load's contents are never written
          if (first) return { errors: [{ text: outcome.message }], watchFiles, watchDirs: watch.dirs }
          return { contents: new Uint8Array(), loader, watchFiles, watchDirs: watch.dirs }
        }
        if (loader !== 'file') inlined.add(model)
        return {
          contents: outcome.result.bytes,
          loader,
          watchFiles,
          watchDirs: watch.dirs,
          // the model's one warning, with the load that quantized it
          warnings: first && outcome.warning ? [{ text: outcome.warning }] : [],
        }
      }
      build.onLoad({ filter: /\.onnx$/i, namespace: NAMESPACE }, (args) => loadModel(args.path, onnxLoader))
      // esbuild loads nothing in a plugin's namespace itself: an excluded model is read here
      build.onLoad({ filter: /.*/, namespace: URL_NAMESPACE }, async (args) => (await loadModel(args.path, 'file')) ?? { contents: await fs.readFile(args.path), loader: 'file' })

      // the models' bytes are in the outputs by now (and an idle context() may keep this plugin
      // for long): nothing here holds on to them
      build.onDispose(() => {
        loaded = new Map()
      })

      build.onEnd(async (result) => {
        loaded = new Map()
        if (collectedModels.size === 0 || !result.metafile) return
        const outdir = initial.outdir ? path.resolve(root, initial.outdir) : initial.outfile ? path.dirname(path.resolve(root, initial.outfile)) : root
        const rel = (p: string) => path.relative(root, p).split(path.sep).join('/')
        const models: ReportModel[] = []
        const write = async (target: string, text: string): Promise<void> => {
          const contents = new TextEncoder().encode(text)
          if (result.outputFiles) {
            result.outputFiles.push({ path: target, contents, hash: '', get text() { return text } })
          } else {
            await makeDirs(path.dirname(target))
            // reports appear whole or not at all, like every other output (temp + rename)
            writeFilesAtomic([{ path: target, bytes: contents }])
          }
        }
        for (const [output, meta] of Object.entries(result.metafile.outputs)) {
          const inputs = Object.keys(meta.inputs)
          if (inputs.length !== 1 || !output.toLowerCase().endsWith('.onnx')) continue
          const source = path.resolve(root, inputs[0]!.replace(`${URL_NAMESPACE}:`, ''))
          const outAbs = path.resolve(root, output)
          const emittedName = path.relative(outdir, outAbs).split(path.sep).join('/')
          const collected = collectedModels.get(source)
          if (collected) models.push(buildReportModel(collected, emittedName, rel))
          for (const f of debugCsvFiles(emittedName, debugCsv.get(source) ?? [])) await write(path.join(outdir, f.fileName), f.source)
          const pending = reports.get(source)
          if (!pending) continue
          const report = reportFile(pending, emittedName, root)
          await write(path.join(outdir, report.fileName), report.source)
        }
        for (const model of inlined) {
          const collected = collectedModels.get(model)
          if (collected && !models.some((m) => m.source === rel(model))) models.push(buildReportModel(collected, null, rel))
        }
        if (models.length === 0) return
        models.sort((a, b) => a.source.localeCompare(b.source))
        if (options.reports.includes('html')) {
          await write(path.join(outdir, HTML_REPORT_FILE), renderReportHtml(models, { title: 'unplugin-quantize build report' }))
        }
        // esbuild has no logger for plugins: the console, unless the build asked for silence
        if (initial.logLevel !== 'silent') console.log(`[${NAME}] ${models.length} model${models.length === 1 ? '' : 's'}:\n${summaryTable(models)}`)
      })
    },
  }
  Object.defineProperty(plugin, 'api', { value: { stats: () => ({ ...stats }) } satisfies QuantizePluginApi, enumerable: false })
  return plugin as QuantizeEsbuildPlugin
}

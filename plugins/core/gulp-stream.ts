import path from 'node:path'
import { Transform, type TransformCallback } from 'node:stream'
import PluginError from 'plugin-error'
import { QuantizeError } from '../../src/errors.js'
import { buildReportModel, HTML_REPORT_FILE, renderReportHtml, summaryTable, type CollectedModel } from './build-report.js'
import { describeError } from './describe-error.js'
import { createModelFilter } from './filter.js'
import { findConfig, type ModelConfig } from './find-config.js'
import { resolveOptions, type Options, type ResolvedOptions } from './options.js'
import { ModelQuantizer, displayPath, newStats, type AssetResult, type QuantizeStats } from './quantize-asset.js'
import { debugCsvFiles, reportFile } from './shared.js'
import type { QuantizePluginApi } from './unplugin.js'

const NAME = 'unplugin-quantize'

/**
 * The part of a vinyl file this plugin uses. Declared here so the package does not depend on
 * `vinyl`: new files (the reports) are made with the incoming file's own constructor.
 */
export interface VinylLike {
  cwd: string
  base: string
  path: string
  /** Every path the file had, the first where src() read it (a rename upstream adds one). */
  readonly history?: readonly string[]
  readonly relative: string
  contents: Buffer | NodeJS.ReadableStream | null
  isNull(): boolean
  isStream(): boolean
  isBuffer(): boolean
}

type VinylConstructor = new (options: { cwd: string; base: string; path: string; contents: Buffer }) => VinylLike

/** The gulp transform, with the plugin's counters on `api` (as the bundler plugins have). */
export type QuantizeGulpStream = Transform & { readonly api: QuantizePluginApi }

const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd])

/**
 * True when the bytes look like a binary file that was decoded as UTF-8 and encoded again (gulp
 * 5's default `encoding: 'utf8'`): all of it is valid UTF-8 and it holds U+FFFD replacement
 * characters where the invalid sequences were. A real ONNX model with float weights is never both.
 */
export function looksUtf8Decoded(bytes: Uint8Array): boolean {
  if (Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).indexOf(REPLACEMENT) < 0) return false
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes)
    return true
  } catch {
    return false
  }
}

type Quantized = Extract<AssetResult, { kind: 'quantized' }>

/**
 * gulp plugin: an object-mode Transform over vinyl files. Buffered `.onnx` files that match
 * `include`/`exclude` and have a cfg (sibling `<name>.onnx.cfg` / `<name>.cfg` next to
 * `file.path`, or `defaultConfig`) get the quantized bytes and a `<name>.quant.json` beside them;
 * everything else passes through untouched. `quantize-report.html` is pushed when the stream ends.
 */
export function quantizeGulp(userOptions?: Options): QuantizeGulpStream {
  // validated now: a wrong option fails where the task is defined
  const options: ResolvedOptions = resolveOptions(userOptions)
  const root = process.cwd()
  const stats: QuantizeStats = newStats()
  const accepts = createModelFilter(root, options.include, options.exclude)
  const info = (message: string) => console.log(message)
  // the bundler plugins' quantizer, on the vinyl file's bytes; its own cache entries (host 'gulp')
  const quantizer = new ModelQuantizer(options, root, { warn: (m) => console.warn(`[${NAME}] ${m}`), info }, stats, 'gulp')
  const rel = (p: string) => displayPath(p, root)
  const collected: { model: CollectedModel; emitted: string }[] = []
  // the HTML report goes to the first file's base, as it was when the file came in
  let first: { file: VinylLike; base: string } | null = null

  const quantizeBytes = async (model: string, bytes: Uint8Array, config: ModelConfig): Promise<Quantized> => {
    if (looksUtf8Decoded(bytes)) {
      stats.failed++
      throw new QuantizeError(model, `the file was decoded as UTF-8 text (it holds U+FFFD replacement characters), which corrupts binary models; gulp 5 reads files as text unless told not to: use src('…/*.onnx', { encoding: false })`, 'input')
    }
    // the bytes are gulp's, but the calibration files are read from disk while the engine runs
    const result = await quantizer.process(await quantizer.prepare(model, config), bytes)
    // a model with a config is quantized or throws
    if (result.kind !== 'quantized') throw new QuantizeError(model, 'was not quantized', 'runtime')
    return result
  }

  const newFile = (like: VinylLike, filePath: string, base: string, contents: Buffer): VinylLike =>
    new (like.constructor as VinylConstructor)({ cwd: like.cwd, base, path: filePath, contents })

  /** The files to push for one vinyl file; throws a PluginError. */
  const processFile = async (file: VinylLike): Promise<VinylLike[]> => {
    if (file.isNull()) return [file]
    if (file.isStream()) {
      throw new PluginError(NAME, `streaming is not supported: ${file.path} is a stream; read it as a buffer (gulp's src() without { buffer: false })`, { fileName: file.path })
    }
    const model = file.path
    if (!/\.onnx$/i.test(model) || !accepts(model)) return [file]
    const input = file.contents as Buffer
    const emitted = file.relative.split(path.sep).join('/')
    // the cfg sits beside the model where it was read, not where a rename upstream moved it
    const config = findConfig(file.history?.[0] ?? model, options.defaultConfig, root)
    const base: CollectedModel = {
      model,
      configFile: config?.kind === 'file' ? config.path : null,
      configLabel: config?.kind === 'object' ? 'defaultConfig' : null,
      kind: 'original',
      report: null,
      sizeIn: input.byteLength,
      sizeOut: input.byteLength,
      cacheHit: null,
      message: null,
    }
    if (!config) {
      stats.passedThrough++
      collected.push({ model: base, emitted })
      return [file]
    }
    let result: Quantized
    try {
      result = await quantizeBytes(model, new Uint8Array(input.buffer, input.byteOffset, input.byteLength), config)
    } catch (err) {
      // counted in stats.failed where it was thrown
      const message = describeError(err, model, config, root).replace(`${NAME}: `, '')
      if (options.onError === 'error') throw new PluginError(NAME, message, { fileName: model })
      console.warn(`[${NAME}] ${message}; passing the original model on`)
      collected.push({ model: { ...base, kind: 'failed', message }, emitted })
      return [file]
    }
    file.contents = Buffer.from(result.bytes.buffer, result.bytes.byteOffset, result.bytes.byteLength)
    collected.push({
      model: { ...base, kind: 'quantized', report: result.report, sizeIn: result.report.sizeIn, sizeOut: result.bytes.byteLength, cacheHit: result.cached },
      emitted,
    })
    const out: VinylLike[] = [file]
    if (options.reports.includes('json')) {
      const report = reportFile({ model, configFile: config.kind === 'file' ? config.path : null, report: result.report }, emitted, root)
      out.push(newFile(file, path.join(file.base, report.fileName), file.base, Buffer.from(report.source)))
    }
    // the cfg's debug_info_save_path asked for them: they travel with the model
    for (const csv of debugCsvFiles(emitted, result.debugCsv)) {
      out.push(newFile(file, path.join(file.base, csv.fileName), file.base, Buffer.from(csv.source)))
    }
    return out
  }

  // Files are processed up to `concurrency` at once and passed on in the order they came in:
  // each has a slot in `queue`, filled when its work ends; the head's files go out when ready.
  // The queue (work running and work done but waiting behind a slower file) holds at most
  // `concurrency` files: the next file is taken only when it has room, and the callback given
  // after a push lets Node hold it while the reader is behind, so memory stays bounded.
  type Slot = { done: boolean; files: VinylLike[]; error: PluginError | null }
  const queue: Slot[] = []
  let held: TransformCallback | null = null
  let flushing: TransformCallback | null = null
  const release = (): void => {
    while (queue[0]?.done) {
      const slot = queue.shift()!
      if (slot.error) {
        queue.length = 0
        stream.destroy(slot.error)
        return
      }
      for (const f of slot.files) stream.push(f)
    }
    if (held && queue.length < options.concurrency) {
      const next = held
      held = null
      next()
    }
    if (flushing && queue.length === 0) {
      const end = flushing
      flushing = null
      finish(end)
    }
  }
  const finish = (callback: TransformCallback): void => {
    if (collected.length === 0 || first === null) return callback()
    const models = collected.map((c) => buildReportModel(c.model, c.emitted, rel)).sort((a, b) => a.source.localeCompare(b.source))
    if (options.reports.includes('html')) {
      const html = renderReportHtml(models, { title: 'unplugin-quantize build report' })
      stream.push(newFile(first.file, path.join(first.base, HTML_REPORT_FILE), first.base, Buffer.from(html)))
    }
    console.log(`[${NAME}] ${models.length} model${models.length === 1 ? '' : 's'}:\n${summaryTable(models)}`)
    callback()
  }

  const stream = new Transform({
    objectMode: true,
    transform(file: VinylLike, _encoding: BufferEncoding, callback: TransformCallback) {
      first ??= { file, base: file.base }
      const slot: Slot = { done: false, files: [], error: null }
      queue.push(slot)
      processFile(file).then(
        (files) => { slot.files = files },
        (err: unknown) => { slot.error = err instanceof PluginError ? err : new PluginError(NAME, err instanceof Error ? err : String(err), { fileName: file.path }) },
      ).finally(() => {
        slot.done = true
        release()
      })
      // take the next file now while there is room, else when the head's files have gone out
      if (queue.length < options.concurrency) callback()
      else held = callback
    },
    flush(callback: TransformCallback) {
      if (queue.length === 0) finish(callback)
      else flushing = callback
    },
  })
  Object.defineProperty(stream, 'api', { value: { stats: () => ({ ...stats }) } satisfies QuantizePluginApi, enumerable: false })
  return stream as QuantizeGulpStream
}

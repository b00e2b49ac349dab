import { createHash } from 'node:crypto'
import fs from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import path from 'node:path'
import type { FSWatcher } from 'chokidar'
import type { QuantizeReport } from '../../src/quantize-model.js'
import { renderReportHtml, type ReportModel } from './build-report.js'
import type { ResolvedOptions } from './options.js'
import type { ModelQuantizer } from './quantize-asset.js'
import { relisted, type PreparedModel } from './model-inputs.js'
import { quantizeForBundler, reportFile } from './shared.js'
import { isCalibrationInput, isInside, modelInputs, type ModelInputs } from './watch-inputs.js'

/**
 * The part of Vite's dev server this module uses, declared structurally so the core does not
 * need Vite's types (the same plugin object also serves Rollup and Rolldown).
 */
export interface DevServerLike {
  middlewares: { use(handler: (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void): unknown }
  watcher: {
    add(paths: string | readonly string[]): unknown
    on(event: 'add' | 'change' | 'unlink', listener: (file: string) => void): unknown
  }
  moduleGraph: { getModuleById(id: string): unknown; invalidateModule(mod: never): void }
  ws: { send(payload: { type: 'full-reload'; path?: string }): void }
}

/** Where the dev server serves models, reports and the index (after Vite's `base`). */
export const DEV_PREFIX = '__quantize/'

/** One model as the dev server currently serves it. */
export interface DevEntry {
  model: string
  /** Content hash of the served bytes: the URL changes exactly when they do. */
  hash: string
  bytes: Uint8Array
  url: string
  sizeIn: number
  kind: 'quantized' | 'original'
  config: string | null
  report: QuantizeReport | null
  /** The `.quant.json` text and URL (quantized models with `reports: ['json']` only). */
  reportText: string | null
  reportUrl: string | null
  /** The debug CSVs its cfg's `debug_info_save_path` asked for, each with the URL it is served at. */
  debugCsv: { name: string; text: string; url: string }[]
  state: 'quantized' | 'from cache' | 'no cfg (original)' | 'failed (original served)'
  warning: string | null
}

export type DevOutcome = { ok: true; entry: DevEntry } | { ok: false; message: string }

export interface DevModelsContext {
  options: ResolvedOptions
  root: string
  base: string
  /** The module id the plugin gives a model (its `load` produces the URL). */
  moduleId: (model: string) => string
  quantizer: () => ModelQuantizer
  warn: (message: string) => void
  /** Ignored by the calibration-folder watcher (the cache must never trigger work). */
  ignored: readonly string[]
  /** The public-folder model a request path is for (one with a cfg), else null. */
  publicModel?: (url: string) => string | null
}

const DEBOUNCE_MS = 80

/** A model's bytes under its content hash, or 304 when the client holds them already (If-None-Match). */
function sendModel(req: IncomingMessage, res: ServerResponse, entry: DevEntry, head: boolean): void {
  const etag = `"${entry.hash}"`
  const held = (req.headers['if-none-match'] ?? '').split(',').map((t) => t.trim().replace(/^W\//, ''))
  if (held.includes(etag) || held.includes('*')) {
    res.statusCode = 304
    res.setHeader('etag', etag)
    res.setHeader('cache-control', 'no-cache')
    res.end()
    return
  }
  send(res, 200, 'application/octet-stream', entry.bytes, head, { 'cache-control': 'no-cache', etag })
}

function send(res: ServerResponse, status: number, type: string, body: string | Uint8Array, head: boolean, extra: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  res.statusCode = status
  res.setHeader('content-type', type)
  res.setHeader('content-length', String(buf.length))
  for (const [k, v] of Object.entries(extra)) res.setHeader(k, v)
  res.end(head ? undefined : buf)
}

/**
 * The dev-server side of the plugin: models are quantized once per content version (the
 * result is held in memory and the cache), served from memory by a middleware, and re-quantized
 * only when one of their inputs (model, cfg, calibration folders) changes on disk.
 */
export class DevModels {
  /** model → its latest outcome (a promise while it is being computed). */
  private readonly outcomes = new Map<string, Promise<DevOutcome>>()
  /** Each outcome once it has settled: the index page shows what is known, never waits. */
  private readonly settled = new WeakMap<Promise<DevOutcome>, DevOutcome>()
  /** model → the entry being served (the last successful outcome). */
  private readonly served = new Map<string, DevEntry>()
  private readonly inputs = new Map<string, ModelInputs>()
  private readonly timers = new Map<string, NodeJS.Timeout>()
  private calibrationWatcher: FSWatcher | null = null
  private readonly calibrationDirs = new Set<string>()
  private server: DevServerLike | null = null
  private closed = false

  constructor(private readonly ctx: DevModelsContext) {}

  attach(server: DevServerLike): void {
    this.server = server
    server.middlewares.use((req, res, next) => {
      void this.handle(req, res, next).catch(next)
    })
    for (const event of ['add', 'change', 'unlink'] as const) server.watcher.on(event, (file) => this.onFileEvent(path.resolve(file)))
  }

  /** The URL of the model's current bytes, quantizing it first if this content was never seen. */
  ensure(model: string): Promise<DevOutcome> {
    let outcome = this.outcomes.get(model)
    if (!outcome) {
      outcome = this.track(this.compute(model))
      this.outcomes.set(model, outcome)
    }
    return outcome
  }

  private track(outcome: Promise<DevOutcome>): Promise<DevOutcome> {
    outcome.then((o) => this.settled.set(outcome, o), (err: unknown) => this.settled.set(outcome, { ok: false, message: String(err) }))
    return outcome
  }

  async close(): Promise<void> {
    this.closed = true
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
    const watcher = this.calibrationWatcher
    this.calibrationWatcher = null
    await watcher?.close()
  }

  private async compute(model: string): Promise<DevOutcome> {
    const { options, root } = this.ctx
    const quantizer = this.ctx.quantizer()
    // Watched before the engine runs, whatever its outcome: an edit while it runs (the first run
    // included), a cfg naming other calibration folders, or a fix of a broken cfg refreshes the
    // model, and that refresh watches what the cfg names then.
    // The folders are listed again once the watcher is ready: a file added while it started is
    // in neither the first listing nor an event (the watcher ignores what it finds at start).
    const watched = await quantizer.prepare(model)
    await this.watchInputs(watched)
    const prepared = relisted(watched)
    const outcome = await quantizeForBundler(quantizer, prepared, options, root)
    if (!outcome.ok) {
      this.served.delete(model)
      return outcome
    }
    const { result, warning } = outcome
    if (warning) this.ctx.warn(warning)
    const bytes = result.bytes
    const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 16)
    const name = path.basename(model)
    const url = `${this.ctx.base}${DEV_PREFIX}model/${hash}/${encodeURIComponent(name)}`
    const configFile = result.kind === 'quantized' ? result.configFile : null
    let reportText: string | null = null
    let reportUrl: string | null = null
    if (result.kind === 'quantized' && options.reports.includes('json')) {
      const file = reportFile({ model, configFile, report: result.report }, url, root)
      reportText = file.source
      reportUrl = `${this.ctx.base}${DEV_PREFIX}report/${hash}/${encodeURIComponent(`${path.basename(name, '.onnx')}.quant.json`)}`
    }
    const debugCsv = result.kind === 'quantized'
      ? result.debugCsv.map((f) => ({ name: f.name, text: f.text, url: `${this.ctx.base}${DEV_PREFIX}debug/${hash}/${encodeURIComponent(f.name)}` }))
      : []
    let sizeIn = 0
    try {
      sizeIn = fs.statSync(model).size
    } catch {
      // deleted meanwhile: the watcher will refresh it
    }
    const rel = (p: string) => path.relative(root, p).split(path.sep).join('/')
    const found = prepared.config
    const entry: DevEntry = {
      model,
      hash,
      bytes,
      url,
      sizeIn,
      kind: result.kind,
      config: found === null ? null : found.kind === 'file' ? rel(found.path) : 'defaultConfig',
      report: result.kind === 'quantized' ? result.report : null,
      reportText,
      reportUrl,
      debugCsv,
      state: result.kind === 'quantized'
        ? result.cached ? 'from cache' : 'quantized'
        : warning ? 'failed (original served)' : 'no cfg (original)',
      warning,
    }
    this.served.set(model, entry)
    return { ok: true, entry }
  }

  private async watchInputs(prepared: PreparedModel): Promise<void> {
    if (!this.server || this.closed) return
    const inputs = modelInputs(prepared)
    this.inputs.set(prepared.model, inputs)
    // Vite's watcher (chokidar) sees the root already; files outside it are added here
    const existing = inputs.files.filter((f) => fs.existsSync(f))
    if (existing.length > 0) this.server.watcher.add(existing)
    const dirs = inputs.calibrationDirs.filter((d) => !this.calibrationDirs.has(d))
    if (dirs.length === 0) return
    for (const d of dirs) this.calibrationDirs.add(d)
    // calibration data is not part of the module graph: a watcher of its own, outside Vite's
    if (!this.calibrationWatcher) {
      const { watch } = await import('chokidar')
      if (this.closed) return
      const ignored = this.ctx.ignored
      const watcher = watch(dirs, { ignoreInitial: true, ignored: (p: string) => ignored.some((dir) => isInside(path.resolve(p), dir)) })
      this.calibrationWatcher = watcher
      for (const event of ['add', 'change', 'unlink'] as const) watcher.on(event, (file: string) => this.onFileEvent(path.resolve(file), true))
      // the outcome is published only once an edit of this content would be seen
      await new Promise<void>((resolve) => {
        watcher.once('ready', () => resolve())
        watcher.once('error', () => resolve())
      })
    } else {
      this.calibrationWatcher.add(dirs)
    }
  }

  /** A file changed on disk: refresh the models that depend on it, and nothing else. */
  private onFileEvent(file: string, fromCalibration = false): void {
    if (this.closed) return
    for (const [model, inputs] of this.inputs) {
      const hit = fromCalibration
        ? isCalibrationInput(inputs, file)
        : inputs.files.includes(file)
      if (!hit) continue
      // editors write in bursts (truncate + write, rename): one refresh per burst
      clearTimeout(this.timers.get(model))
      this.timers.set(model, setTimeout(() => {
        this.timers.delete(model)
        void this.refresh(model)
      }, DEBOUNCE_MS))
    }
  }

  private async refresh(model: string): Promise<void> {
    const previous = this.outcomes.get(model)
    // the quantizer shares in-flight work per model: let the old content finish before the new
    const next = this.track((previous ?? Promise.resolve(null)).catch(() => null).then(() => this.compute(model)))
    this.outcomes.set(model, next)
    await next.catch(() => null)
    if (this.closed || !this.server || this.outcomes.get(model) !== next) return
    const server = this.server
    const mod = server.moduleGraph.getModuleById(this.ctx.moduleId(model))
    if (mod) server.moduleGraph.invalidateModule(mod as never)
    server.ws.send({ type: 'full-reload', path: '*' })
  }

  private async handle(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): Promise<void> {
    const raw = (req.url ?? '/').split(/[?#]/)[0]!
    const sub = this.subPath(raw)
    const head = req.method === 'HEAD'
    if (sub === null) {
      const model = req.method === 'GET' || head ? this.ctx.publicModel?.(raw) ?? null : null
      if (model === null) return next()
      // quantized once per content version (memory, then the cache); Vite would send the float file
      const outcome = await this.ensure(model)
      if (!outcome.ok) return send(res, 500, 'text/plain; charset=utf-8', `${outcome.message}\n`, head)
      return sendModel(req, res, outcome.entry, head)
    }
    if (req.method !== 'GET' && !head) return send(res, 405, 'text/plain; charset=utf-8', 'unplugin-quantize: only GET and HEAD\n', head, { allow: 'GET, HEAD' })
    if (sub === '' || sub === 'index.html') return send(res, 200, 'text/html; charset=utf-8', this.indexHtml(), head, { 'cache-control': 'no-store' })
    const m = /^(model|report|debug)\/([^/]+)\/([^/]+)$/.exec(sub)
    if (m) {
      const [, kind, hash, name] = m as unknown as [string, 'model' | 'report' | 'debug', string, string]
      const entries = [...this.served.values()].filter((e) => e.hash === hash)
      // two models with the same bytes share a hash, not a name
      if (kind === 'model') {
        const entry = entries.find((e) => e.url.endsWith(`/${hash}/${name}`))
        if (entry) return sendModel(req, res, entry, head)
      } else if (kind === 'report') {
        const entry = entries.find((e) => e.reportText !== null && (e.reportUrl ?? '').endsWith(`/${hash}/${name}`))
        if (entry) return send(res, 200, 'application/json; charset=utf-8', entry.reportText!, head, { 'cache-control': 'no-cache' })
      } else {
        const csv = entries.flatMap((e) => e.debugCsv).find((f) => f.url.endsWith(`/${hash}/${name}`))
        if (csv) return send(res, 200, 'text/csv; charset=utf-8', csv.text, head, { 'cache-control': 'no-cache' })
      }
      const what = kind === 'model' ? 'model' : kind === 'report' ? 'report' : 'debug CSV'
      return send(res, 404, 'text/plain; charset=utf-8', `unplugin-quantize: no ${what} with id ${hash}/${decodeURIComponent(name)}; it may have been replaced by an edit (reload the page). See ${this.ctx.base}${DEV_PREFIX}\n`, head)
    }
    return send(res, 404, 'text/plain; charset=utf-8', `unplugin-quantize: nothing at ${raw}; see ${this.ctx.base}${DEV_PREFIX}\n`, head)
  }

  /** The path after `/__quantize/` (Vite's base or not), '' for the index, null when not ours. */
  private subPath(url: string): string | null {
    for (const base of new Set([this.ctx.base, '/'])) {
      const prefix = `${base}${DEV_PREFIX}`
      if (url === prefix.slice(0, -1) || url === prefix) return ''
      if (url.startsWith(prefix)) return url.slice(prefix.length)
    }
    return null
  }

  /** The same page as the build's `quantize-report.html`, with links to what is served. */
  private indexHtml(): string {
    const models: ReportModel[] = []
    const rel = (p: string) => path.relative(this.ctx.root, p).split(path.sep).join('/')
    for (const [model, pending] of this.outcomes) {
      const outcome = this.settled.get(pending)
      if (!outcome) {
        // still quantizing (on a worker thread): the page answers now and says so
        const served = this.served.get(model)
        let sizeIn = 0
        try {
          sizeIn = fs.statSync(model).size
        } catch {
          // deleted meanwhile
        }
        models.push({ source: rel(model), emitted: served?.url ?? null, config: served?.config ?? null, kind: 'original', report: null, sizeIn, sizeOut: served?.bytes.length ?? 0, status: 'quantizing… (reload to see the result)', message: null })
        continue
      }
      if (!outcome.ok) {
        models.push({ source: rel(model), emitted: null, config: null, kind: 'failed', report: null, sizeIn: 0, sizeOut: 0, status: 'failed', message: outcome.message })
        continue
      }
      const e = outcome.entry
      models.push({
        source: rel(e.model),
        emitted: e.url,
        config: e.config,
        kind: e.kind,
        report: e.report,
        sizeIn: e.sizeIn,
        sizeOut: e.bytes.length,
        status: e.state,
        message: e.warning,
        links: [
          { label: 'model', href: e.url },
          ...(e.reportUrl ? [{ label: '.quant.json', href: e.reportUrl }] : []),
          ...e.debugCsv.map((f) => ({ label: f.name, href: f.url })),
        ],
      })
    }
    return renderReportHtml(models, { title: 'unplugin-quantize', empty: 'No model has been requested yet: open the app, then reload this page.' })
  }
}

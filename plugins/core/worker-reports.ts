import path from 'node:path'
import type { ReportModel } from './build-report.js'

/**
 * Vite builds each worker bundle with fresh instances of the plugins in `worker.plugins`, during
 * the main build and before its generateBundle; both would write `quantize-report.html`, and the
 * worker's (copied into the main bundle last) replaced the main one. A worker build whose main
 * build runs this plugin too leaves its models here instead, keyed by the main build's resolved
 * config (Vite hands it to the worker's config as `mainConfig`) and by the worker's bundle chain
 * (a rebuilt worker replaces its own entry), and the main build lists them in its own report and
 * summary.
 *
 * In watch mode Vite keeps a worker's bundle until one of its files changes and does not build
 * it again, not even when the app stops starting it (or starts it again): so an entry stays, and
 * each main build lists only the workers its own output still starts, and those they start.
 * Vite before 5.2 gives a worker's config no `bundleChain`: which worker started which is not
 * known then, and every saved worker is listed, as before that check (keyed by the worker's entry
 * module, so a rebuilt worker still replaces its own entry).
 */
const byMainBuild = new WeakMap<object, Map<string, WorkerBuild>>()

/**
 * What a bundle refers to, enough to tell which worker bundles it starts. Kept for every worker
 * build of a watch session: names only, never the chunks' code.
 */
export interface BundleRefs {
  /** The bundle's file names when this plugin's generateBundle runs. */
  files: ReadonlySet<string>
  /** The saved worker entries' file names (basenames) its chunks' code mentions. */
  named: ReadonlySet<string>
  /** Files its module graph imports as workers (`./w.js?worker`, `?sharedworker`, `&inline`, `&url`), without the query. */
  workerImports: ReadonlySet<string>
}

/** The part of a Rollup / Rolldown output bundle read here. */
export type OutputBundleLike = Record<string, { type: 'chunk'; code: string; isEntry: boolean; facadeModuleId?: string | null } | { type: 'asset' }>

interface WorkerBuild {
  /** The worker entries from the main build's down to this worker's own (Vite's `bundleChain`); null before Vite 5.2. */
  chain: readonly string[] | null
  /** The file name of its entry chunk. */
  entry: string | null
  models: ReportModel[]
  refs: BundleRefs
}

const WORKER_QUERY = /[?&](?:worker|sharedworker)(?:&|$)/

/**
 * `bundle` and its module graph as `BundleRefs`, in the build of `mainConfig`. The worker entries
 * its code can name are those saved already: a worker's bundle is built (and saved) while the
 * module that starts it is transformed, so before that module's bundle is; and a rebuilt worker
 * with a new entry name changes the code naming it, so that bundle is built again too.
 */
export function bundleRefs(mainConfig: object, bundle: OutputBundleLike, moduleIds: Iterable<string>): BundleRefs {
  const workerImports = new Set<string>()
  for (const id of moduleIds) {
    const q = id.indexOf('?')
    if (q > 0 && WORKER_QUERY.test(id.slice(q))) workerImports.add(id.slice(0, q))
  }
  const named = new Set<string>()
  for (const worker of byMainBuild.get(mainConfig)?.values() ?? []) {
    if (worker.entry === null) continue
    const name = path.posix.basename(worker.entry)
    if (!named.has(name) && Object.values(bundle).some((file) => file.type === 'chunk' && file.code.includes(name))) named.add(name)
  }
  return { files: new Set(Object.keys(bundle)), named, workerImports }
}

/** A worker bundle's entry chunk: its file name, and its module (what tells workers apart without a `bundleChain`). */
function entryChunk(bundle: OutputBundleLike): { file: string; module: string | null } | null {
  for (const [file, f] of Object.entries(bundle)) if (f.type === 'chunk' && f.isEntry) return { file, module: f.facadeModuleId ?? null }
  return null
}

/** Whether a bundle with these refs starts `worker`. */
function starts(refs: BundleRefs, worker: WorkerBuild): boolean {
  // `?worker&inline` leaves no file: the import in the module graph is the only trace
  if (worker.chain && refs.workerImports.has(worker.chain.at(-1)!)) return true
  if (worker.entry === null) return false
  // Vite 8 emits the entry of every worker a build starts while transforming the module that
  // starts it, so it is in the bundle by now; earlier Vites write the entry's URL into the chunk
  // and add the file in their own generateBundle, after this plugin's
  if (refs.files.has(worker.entry)) return true
  return refs.named.has(path.posix.basename(worker.entry))
}

/**
 * Keep a worker build's models for its main build's report. `chain` is the worker's config's
 * `bundleChain`, undefined before Vite 5.2.
 */
export function saveWorkerModels(mainConfig: object, chain: readonly string[] | undefined, bundle: OutputBundleLike, models: readonly ReportModel[], refs: BundleRefs): void {
  let saved = byMainBuild.get(mainConfig)
  if (!saved) byMainBuild.set(mainConfig, (saved = new Map()))
  const entry = entryChunk(bundle)
  // `\0`: no chain's key (worker ids) starts with it
  const key = chain ? chain.join('\n') : `\0${entry?.module ?? entry?.file ?? ''}`
  saved.set(key, { chain: chain ? [...chain] : null, entry: entry?.file ?? null, models: [...models], refs })
}

/**
 * The models of the worker builds the main build's output (`mainRefs`) starts, directly or
 * through other workers, one row per source and emitted file.
 */
export function workerModels(mainConfig: object, mainRefs: BundleRefs): ReportModel[] {
  const saved = byMainBuild.get(mainConfig)
  if (!saved) return []
  const out: ReportModel[] = []
  // a worker's refs decide which of the workers it starts are live; walked from the main build down
  const visit = (chain: readonly string[], refs: BundleRefs): void => {
    for (const worker of saved.values()) {
      const own = worker.chain
      if (!own || own.length !== chain.length + 1 || chain.some((c, i) => own[i] !== c)) continue
      if (!starts(refs, worker)) continue
      out.push(...worker.models)
      visit(own, worker.refs)
    }
  }
  visit([], mainRefs)
  // no bundleChain (Vite before 5.2): which of them the output starts is not known, all are listed
  for (const worker of saved.values()) if (!worker.chain) out.push(...worker.models)
  return out
}

/** `models` and `more` without a model listed twice (a model both bundles emit under one name). */
export function mergeModels(models: readonly ReportModel[], more: readonly ReportModel[]): ReportModel[] {
  const key = (m: ReportModel) => `${m.source}\n${m.emitted ?? ''}`
  const seen = new Set(models.map(key))
  return [...models, ...more.filter((m) => !seen.has(key(m)) && (seen.add(key(m)), true))]
}

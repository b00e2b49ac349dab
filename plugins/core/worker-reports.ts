import type { ReportModel } from './build-report.js'

/**
 * Vite builds each worker bundle with fresh instances of the plugins in `worker.plugins`, during
 * the main build and before its generateBundle; both would write `quantize-report.html`, and the
 * worker's (copied into the main bundle last) replaced the main one. A worker build whose main
 * build runs this plugin too leaves its models here instead, keyed by the main build's resolved
 * config (Vite hands it to the worker's config as `mainConfig`) and by the worker's bundle chain
 * (a rebuilt worker replaces its own entry; in watch mode an unchanged worker is not rebuilt and
 * its entry stays), and the main build lists them in its own report and summary.
 */
const byMainBuild = new WeakMap<object, Map<string, ReportModel[]>>()

/** Keep a worker build's models for its main build's report. */
export function saveWorkerModels(mainConfig: object, chain: string, models: readonly ReportModel[]): void {
  let saved = byMainBuild.get(mainConfig)
  if (!saved) byMainBuild.set(mainConfig, (saved = new Map()))
  saved.set(chain, [...models])
}

/** Every model the worker builds of this main build left, one row per source and emitted file. */
export function workerModels(mainConfig: object): ReportModel[] {
  return [...(byMainBuild.get(mainConfig)?.values() ?? [])].flat()
}

/** `models` and `more` without a model listed twice (a model both bundles emit under one name). */
export function mergeModels(models: readonly ReportModel[], more: readonly ReportModel[]): ReportModel[] {
  const key = (m: ReportModel) => `${m.source}\n${m.emitted ?? ''}`
  const seen = new Set(models.map(key))
  return [...models, ...more.filter((m) => !seen.has(key(m)) && (seen.add(key(m)), true))]
}

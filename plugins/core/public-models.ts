import fs from 'node:fs'
import path from 'node:path'
import type { CollectedModel } from './build-report.js'
import { siblingConfigs } from './find-config.js'
import type { ModelOutcome } from './shared.js'
import { isInside } from './watch-inputs.js'

// Models in Vite's public folder: copied verbatim into the bundle and fetched by absolute URL
// (`/models/det.onnx`), so they are not part of the module graph and keep their names.

/** A public model's quantization, done during the build and emitted at its own path. */
export interface PublicModel {
  model: string
  outcome: ModelOutcome
  collected: CollectedModel | null
}

/**
 * The `.onnx` files under `publicDir` that `accepts` lets through and that have a cfg, sorted.
 * Models without one are left as Vite copied them.
 */
export function listPublicModels(publicDir: string, accepts: (file: string) => boolean, hasConfig: (file: string) => boolean): string[] {
  let entries: string[]
  try {
    entries = fs.readdirSync(publicDir, { recursive: true, encoding: 'utf8' })
  } catch {
    return [] // no public folder
  }
  return entries
    .filter((rel) => /\.onnx$/i.test(rel))
    .map((rel) => path.join(publicDir, rel))
    .filter((abs) => isFile(abs) && accepts(abs) && hasConfig(abs))
    .sort()
}

/** The file name a public model has in the bundle (its path inside the public folder). */
export function publicFileName(publicDir: string, model: string): string {
  return path.relative(publicDir, model).split(path.sep).join('/')
}

/**
 * The public model a dev-server request is for, or null: `url` is the request path, `base`
 * Vite's base ('/' or '/app/'). Only existing `.onnx` files inside `publicDir` qualify.
 */
export function publicModelForUrl(publicDir: string, base: string, url: string): string | null {
  let rel: string
  if (url.startsWith(base)) rel = url.slice(base.length)
  else if (url.startsWith('/')) rel = url.slice(1)
  else return null
  try {
    rel = decodeURIComponent(rel)
  } catch {
    return null
  }
  // after decoding: `m%2eonnx` is the same file, which Vite's static server would send as it is
  if (!/\.onnx$/i.test(rel)) return null
  const abs = path.resolve(publicDir, rel)
  // `..` in the URL must not reach outside the public folder
  if (!isInside(abs, publicDir) || !isFile(abs)) return null
  return abs
}

/**
 * Remove from `outDir` the cfg files Vite copied beside public models: they are build inputs
 * (and may name local paths), not files the app serves. Returns the removed paths.
 */
export function removeCopiedConfigs(outDir: string, publicDir: string, models: readonly string[]): string[] {
  const removed: string[] = []
  for (const model of models) {
    for (const cfg of siblingConfigs(model)) {
      if (!isInside(cfg, publicDir) || !isFile(cfg)) continue
      const copied = path.join(outDir, path.relative(publicDir, cfg))
      if (!isFile(copied)) continue
      fs.rmSync(copied, { force: true })
      removed.push(copied)
    }
  }
  return removed
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile()
  } catch {
    return false
  }
}

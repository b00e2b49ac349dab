import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
let engine: string | undefined
let ort: string | undefined

/**
 * This package's version. Found by walking up from this file rather than a fixed `../..`,
 * because the file runs both from src/cache/ (tsx, tests) and dist/src/cache/ (published).
 */
export function engineVersion(): string {
  if (engine !== undefined) return engine
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const file = path.join(dir, 'package.json')
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown }
      if (pkg.name === 'unplugin-quantize' && typeof pkg.version === 'string') return (engine = pkg.version)
    }
    const parent = path.dirname(dir)
    if (parent === dir) throw new Error(`${fileURLToPath(import.meta.url)}: no package.json of unplugin-quantize above this file`)
    dir = parent
  }
}

/**
 * onnxruntime-node's version, read from its package.json: importing the package would load its
 * native binding just to compute a key, which a cache hit is meant to avoid. Without the package
 * no result can be computed either, so a placeholder key part is enough.
 */
export function ortVersion(): string {
  if (ort !== undefined) return ort
  try {
    const pkg = require('onnxruntime-node/package.json') as { version?: unknown }
    ort = typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    ort = 'not-installed'
  }
  return ort
}

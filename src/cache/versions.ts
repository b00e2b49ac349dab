import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
let engine: string | undefined
let ort: string | undefined

/**
 * This package's version plus a digest of the engine's own code (the folder above this file:
 * src/ from source, dist/src/ when published). A release bumps the version anyway; the digest
 * keeps an existing cache from serving results of older engine code between releases, as in a
 * git checkout of this project. Reading ~100 small files once per process costs a few ms.
 */
export function engineVersion(): string {
  if (engine !== undefined) return engine
  return (engine = `${packageVersion()}+${engineDigest()}`)
}

function engineDigest(): string {
  const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
  const hash = createHash('sha256')
  const files = fs.readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|js)$/.test(f) && !f.endsWith('.d.ts'))
    .sort()
  for (const f of files) {
    hash.update(f.split(path.sep).join('/'))
    hash.update('\0')
    hash.update(fs.readFileSync(path.join(root, f)))
  }
  return hash.digest('hex').slice(0, 16)
}

/**
 * This package's version. Found by walking up from this file rather than a fixed `../..`,
 * because the file runs both from src/cache/ (tsx, tests) and dist/src/cache/ (published).
 */
export function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const file = path.join(dir, 'package.json')
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown }
      if (pkg.name === 'unplugin-quantize' && typeof pkg.version === 'string') return pkg.version
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

import { randomBytes } from 'node:crypto'
import path from 'node:path'

/**
 * Where things live in a cache folder:
 *   <cacheDir>/<key[0..2]>/<key>/                 an entry (manifest.json + blobs)
 *   <cacheDir>/<key[0..2]>/<key>.tmp-<pid>-<rnd>  an entry being written
 *   <cacheDir>/<key[0..2]>/<key>.del-<pid>-<rnd>  an entry being removed
 * Sharding by the first two hex digits keeps any one folder small with many entries.
 */

export const DEFAULT_CACHE_DIR = 'node_modules/.cache/unplugin-quantize'
export const MANIFEST = 'manifest.json'

export const KEY_PATTERN = /^[0-9a-f]{64}$/
export const SHARD_PATTERN = /^[0-9a-f]{2}$/
export const TEMP_PATTERN = /^[0-9a-f]{64}\.(tmp|del)-\d+-[0-9a-f]+$/

/** The default cache folder of a project rooted at `root`. */
export function defaultCacheDir(root: string): string {
  return path.resolve(root, DEFAULT_CACHE_DIR)
}

export function checkKey(key: string): void {
  if (!KEY_PATTERN.test(key)) throw new TypeError(`cache key '${key}' is not a sha256 in lowercase hex (use cacheKey())`)
}

export function entryDir(cacheDir: string, key: string): string {
  return path.join(cacheDir, key.slice(0, 2), key)
}

/** A fresh name beside `dir` for work on it; pid and random bits keep concurrent writers apart. */
export function sideName(dir: string, kind: 'tmp' | 'del'): string {
  return `${dir}.${kind}-${process.pid}-${randomBytes(6).toString('hex')}`
}

/**
 * Blob names become file names in the entry folder, and manifests are read back from disk, so a
 * name must not reach outside the folder or collide with the manifest.
 */
export function blobNameProblem(name: string): string | null {
  if (name === '' || name === '.' || name === '..') return 'is not a file name'
  if (/[/\\\0]/.test(name)) return 'contains a path separator or NUL'
  if (name === MANIFEST) return `is reserved for the entry's manifest`
  return null
}

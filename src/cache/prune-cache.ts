import fs from 'node:fs'
import path from 'node:path'
import { CacheError, errorCode, reason } from './cache-error.js'
import { removeDir, removeQuietly } from './atomic-dir.js'
import { KEY_PATTERN, MANIFEST, SHARD_PATTERN, TEMP_PATTERN } from './layout.js'
import type { PrunedEntry, PruneOptions, PruneResult } from './types.js'

const DEFAULT_TEMP_MAX_AGE_MS = 5 * 60_000

interface ScannedEntry {
  key: string
  path: string
  bytes: number
  lastUsed: number
  hasManifest: boolean
}

/**
 * Remove abandoned temp folders, then entries unused for longer than `maxAgeMs`, then the least
 * recently used entries while the rest exceed `maxTotalBytes`. Last use is the mtime of an
 * entry's manifest.json, which a hit refreshes. Only names this cache creates are touched, so a
 * cache dir pointed somewhere unexpected loses nothing else.
 */
export async function pruneCache(cacheDir: string, options: PruneOptions = {}): Promise<PruneResult> {
  const { maxAgeMs, maxTotalBytes, tempMaxAgeMs = DEFAULT_TEMP_MAX_AGE_MS } = options
  for (const [name, value] of Object.entries({ maxAgeMs, maxTotalBytes, tempMaxAgeMs })) {
    if (value !== undefined && !(typeof value === 'number' && value >= 0)) {
      throw new RangeError(`prune option ${name} must be a number >= 0, got ${String(value)}`)
    }
  }
  const now = Date.now()
  const result: PruneResult = { entries: [], temps: [], bytesFreed: 0, bytesKept: 0 }
  const entries: ScannedEntry[] = []

  for (const shard of await listDir(cacheDir)) {
    if (!SHARD_PATTERN.test(shard.name) || !shard.isDirectory()) continue
    const shardDir = path.join(cacheDir, shard.name)
    for (const item of await listDir(shardDir)) {
      if (!item.name.startsWith(shard.name)) continue
      const itemPath = path.join(shardDir, item.name)
      if (TEMP_PATTERN.test(item.name)) {
        const changed = await newestMtime(itemPath)
        if (changed !== null && now - changed > tempMaxAgeMs) {
          await removeQuietly(itemPath)
          result.temps.push(itemPath)
        }
      } else if (KEY_PATTERN.test(item.name) && item.isDirectory()) {
        const entry = await scanEntry(item.name, itemPath)
        if (entry) entries.push(entry)
      }
    }
  }

  const kept: ScannedEntry[] = []
  for (const entry of entries) {
    // an entry without a manifest is never published by a writer; the age guard only avoids
    // racing something unforeseen in the middle of its work
    if (!entry.hasManifest && now - entry.lastUsed > tempMaxAgeMs) await remove(entry, 'invalid', result)
    else if (maxAgeMs !== undefined && now - entry.lastUsed > maxAgeMs) await remove(entry, 'age', result)
    else kept.push(entry)
  }
  // oldest first; the key breaks ties so equal mtimes prune in a repeatable order
  kept.sort((a, b) => a.lastUsed - b.lastUsed || (a.key < b.key ? -1 : 1))
  let total = kept.reduce((sum, e) => sum + e.bytes, 0)
  for (const entry of kept) {
    if (maxTotalBytes === undefined || total <= maxTotalBytes) {
      result.bytesKept += entry.bytes
      continue
    }
    total -= entry.bytes
    await remove(entry, 'size', result)
  }
  return result
}

async function remove(entry: ScannedEntry, why: PrunedEntry['reason'], result: PruneResult): Promise<void> {
  // false: another process removed it first, so it is not ours to report
  if (!(await removeDir(entry.path))) return
  result.entries.push({ key: entry.key, path: entry.path, bytes: entry.bytes, lastUsed: new Date(entry.lastUsed), reason: why })
  result.bytesFreed += entry.bytes
}

async function scanEntry(key: string, dir: string): Promise<ScannedEntry | null> {
  let bytes = 0
  let lastUsed: number | null = null
  try {
    for (const item of await fs.promises.readdir(dir)) {
      const stat = await fs.promises.stat(path.join(dir, item))
      bytes += stat.size
      if (item === MANIFEST) lastUsed = stat.mtimeMs
    }
    const hasManifest = lastUsed !== null
    lastUsed ??= (await fs.promises.stat(dir)).mtimeMs
    return { key, path: dir, bytes, lastUsed, hasManifest }
  } catch (err) {
    // removed by another process while we looked: nothing to prune
    if (errorCode(err) === 'ENOENT') return null
    throw new CacheError(dir, `cannot inspect the cache entry: ${reason(err)}`, { cause: err })
  }
}

/** When anything in a temp folder last changed: a writer still at work keeps touching it. */
async function newestMtime(dir: string): Promise<number | null> {
  try {
    let newest = (await fs.promises.stat(dir)).mtimeMs
    const items = await fs.promises.readdir(dir).catch(() => [])
    for (const item of items) {
      const stat = await fs.promises.stat(path.join(dir, item)).catch(() => null)
      if (stat) newest = Math.max(newest, stat.mtimeMs)
    }
    return newest
  } catch {
    return null
  }
}

async function listDir(dir: string): Promise<fs.Dirent[]> {
  try {
    return await fs.promises.readdir(dir, { withFileTypes: true })
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return []
    throw new CacheError(dir, `cannot list the cache folder: ${reason(err)}`, { cause: err })
  }
}

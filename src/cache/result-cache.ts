import fs from 'node:fs'
import path from 'node:path'
import { writeDirAtomic, removeDir } from './atomic-dir.js'
import { blobNameProblem, checkKey, defaultCacheDir, entryDir, MANIFEST } from './layout.js'
import { blobChecksum, manifestText, MANIFEST_FORMAT, type Manifest } from './manifest.js'
import { pruneCache } from './prune-cache.js'
import { readEntry } from './read-entry.js'
import type { Blobs, CacheLogger, CacheStats, PruneOptions, PruneResult, QuantizeCache, WriteOutcome } from './types.js'

export interface ResultCacheOptions {
  /** Project root that a relative `dir` is resolved against. @default process.cwd() */
  root?: string
  /** @default 'node_modules/.cache/unplugin-quantize' */
  dir?: string
  /** @default console.warn with a prefix */
  logger?: CacheLogger
}

const consoleLogger: CacheLogger = { warn: (message) => console.warn(`[unplugin-quantize] ${message}`) }

// Per process, not per cache object: a Vite build can create several plugin instances (client,
// SSR, workers) that share one cache folder, and they should not quantize one model twice.
const inFlight = new Map<string, Promise<Blobs>>()

// A hit records itself in the manifest's mtime (prune's last use) only when the last record is
// older than this: LRU order does not need finer steps, and a build of many cached models then
// skips one write per model.
const TOUCH_AFTER_MS = 60_000

/**
 * Quantization results on disk, one entry per cache key (see `cacheKey`). Entries are written
 * atomically, verified on every read, and a bad one is removed and reported as a miss, so a
 * cache problem costs a recomputation, never a wrong model or a failed build.
 */
export class ResultCache implements QuantizeCache {
  readonly dir: string
  private readonly logger: CacheLogger
  private readonly counters: CacheStats = { hits: 0, misses: 0, writes: 0, corrupt: 0 }

  constructor(options: ResultCacheOptions = {}) {
    const root = path.resolve(options.root ?? process.cwd())
    this.dir = options.dir === undefined ? defaultCacheDir(root) : path.resolve(root, options.dir)
    this.logger = options.logger ?? consoleLogger
  }

  async get(key: string): Promise<Blobs | null> {
    checkKey(key)
    const read = await readEntry(this.dir, key)
    if (read.kind === 'hit') {
      this.counters.hits++
      await this.touchIfOld(read.dir, read.lastUsed)
      return read.blobs
    }
    this.counters.misses++
    if (read.kind === 'stale') {
      // written by an older version: not an error, just a result this version will replace
      await removeDir(read.dir).catch(() => undefined)
      return null
    }
    if (read.kind === 'corrupt') {
      this.counters.corrupt++
      let removed = 'removed the entry'
      try {
        await removeDir(read.dir)
      } catch (err) {
        removed = `could not remove the entry: ${err instanceof Error ? err.message : String(err)}`
      }
      this.logger.warn(`cache entry ${read.file} ${read.problem}; ${removed}, the result will be recomputed`)
    }
    return null
  }

  /** Store `blobs` under `key`; `existed` when another writer got there first (ours is dropped). */
  async set(key: string, blobs: Blobs): Promise<WriteOutcome> {
    checkKey(key)
    const names = Object.keys(blobs).sort()
    for (const name of names) {
      const problem = blobNameProblem(name)
      if (problem) throw new TypeError(`cache blob name '${name}' ${problem}`)
    }
    const manifest: Manifest = { format: MANIFEST_FORMAT, key, blobs: names.map((name) => ({ name, size: blobs[name]!.byteLength, crc32: blobChecksum(blobs[name]!) })) }
    // the manifest goes last: a folder with one is complete, whatever happened before the rename
    const files = [...names.map((name) => ({ name, bytes: blobs[name]! })), { name: MANIFEST, bytes: manifestText(manifest) }]
    const outcome = await writeDirAtomic(entryDir(this.dir, key), files)
    if (outcome === 'written') this.counters.writes++
    return outcome
  }

  getOrCompute(key: string, compute: () => Promise<Blobs>): Promise<Blobs> {
    checkKey(key)
    const id = entryDir(this.dir, key)
    const running = inFlight.get(id)
    if (running) return running
    const work = this.lookUpOrCompute(key, compute).finally(() => inFlight.delete(id))
    inFlight.set(id, work)
    return work
  }

  prune(options?: PruneOptions): Promise<PruneResult> {
    return pruneCache(this.dir, options)
  }

  stats(): CacheStats {
    return { ...this.counters }
  }

  private async lookUpOrCompute(key: string, compute: () => Promise<Blobs>): Promise<Blobs> {
    const cached = await this.get(key)
    if (cached) return cached
    const blobs = await compute()
    let outcome: WriteOutcome
    try {
      outcome = await this.set(key, blobs)
    } catch (err) {
      // the result is good; only the next build pays for the failed write
      this.logger.warn(`could not store the result in the cache: ${err instanceof Error ? err.message : String(err)}`)
      return blobs
    }
    if (outcome === 'existed') {
      // Another process stored this key first. Return its bytes, not ours: parts of a result
      // such as the report's timings differ between runs, and builds sharing the cache should
      // emit identical files. Ours stand in if the winner's entry cannot be read.
      const winner = await readEntry(this.dir, key)
      if (winner.kind === 'hit') {
        await this.touchIfOld(winner.dir, winner.lastUsed)
        return winner.blobs
      }
    }
    return blobs
  }

  /** Mark the entry used now, for prune's age and LRU order. */
  private async touchIfOld(dir: string, lastUsed: number): Promise<void> {
    const now = new Date()
    if (now.getTime() - lastUsed < TOUCH_AFTER_MS && lastUsed <= now.getTime()) return
    try {
      await fs.promises.utimes(path.join(dir, MANIFEST), now, now)
    } catch {
      // a read-only cache (say, restored in CI) still serves hits; it just cannot record them
    }
  }
}

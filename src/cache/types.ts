/** Named blobs of one cache entry, e.g. `model.onnx`, `model.onnx.data`, `report.json`. */
export type Blobs = Readonly<Record<string, Uint8Array>>

/** Where cache problems go; plugins pass their bundler's warning function. */
export interface CacheLogger {
  warn(message: string): void
}

/**
 * Counters since the cache object was made. A corrupt entry counts as `corrupt` and as a miss
 * (the caller recomputes). A call that joined another call's in-flight computation counts
 * nothing: it neither read the cache nor computed.
 */
export interface CacheStats {
  hits: number
  misses: number
  writes: number
  corrupt: number
}

/** Outcome of a write: `existed` when another writer put the same key in place first. */
export type WriteOutcome = 'written' | 'existed' | 'disabled'

export interface PruneOptions {
  /** Remove entries whose last use (hit or write) is older than this. */
  maxAgeMs?: number
  /** Then, while the entries left take more bytes than this, remove the least recently used. */
  maxTotalBytes?: number
  /**
   * Temp dirs left by killed writers are removed once nothing in them changed for this long;
   * younger ones may belong to a writer still at work.
   * @default 300_000 (5 minutes)
   */
  tempMaxAgeMs?: number
}

export interface PrunedEntry {
  key: string
  path: string
  bytes: number
  /** mtime of the entry's manifest.json: when it was written or last hit. */
  lastUsed: Date
  /** `invalid`: an entry dir without a manifest, which a complete write never leaves. */
  reason: 'age' | 'size' | 'invalid'
}

export interface PruneResult {
  entries: PrunedEntry[]
  /** Temp dirs of abandoned writes and removals. */
  temps: string[]
  bytesFreed: number
  /** Bytes of the entries left in place. */
  bytesKept: number
}

/** What the build plugins use; `ResultCache` and `NoCache` both implement it. */
export interface QuantizeCache {
  /** The cache folder, null for `NoCache`. */
  readonly dir: string | null
  /** The entry's verified blobs, or null on a miss (absent, or corrupt and now removed). */
  get(key: string): Promise<Blobs | null>
  set(key: string, blobs: Blobs): Promise<WriteOutcome>
  /** The cached blobs, or `compute`'s, stored for next time; `compute` runs once per key at a time in this process. */
  getOrCompute(key: string, compute: () => Promise<Blobs>): Promise<Blobs>
  prune(options?: PruneOptions): Promise<PruneResult>
  stats(): CacheStats
}

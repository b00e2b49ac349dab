import { checkKey } from './layout.js'
import type { Blobs, CacheStats, PruneOptions, PruneResult, QuantizeCache, WriteOutcome } from './types.js'

/**
 * The cache for `cache: false`: every lookup misses and nothing is written, so callers use one
 * code path with or without a cache. `getOrCompute` runs `compute` on every call.
 */
export class NoCache implements QuantizeCache {
  readonly dir = null
  private readonly counters: CacheStats = { hits: 0, misses: 0, writes: 0, corrupt: 0 }

  async get(key: string): Promise<Blobs | null> {
    checkKey(key)
    this.counters.misses++
    return null
  }

  async set(key: string, _blobs: Blobs): Promise<WriteOutcome> {
    checkKey(key)
    return 'disabled'
  }

  async getOrCompute(key: string, compute: () => Promise<Blobs>): Promise<Blobs> {
    await this.get(key)
    return compute()
  }

  async prune(_options?: PruneOptions): Promise<PruneResult> {
    return { entries: [], temps: [], bytesFreed: 0, bytesKept: 0 }
  }

  stats(): CacheStats {
    return { ...this.counters }
  }
}

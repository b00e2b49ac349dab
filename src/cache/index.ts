export { cacheKey, normalizeCfg } from './cache-key.js'
export type { ByteSource, CacheKeyParts } from './cache-key.js'
export { digestFile } from './hash.js'
export { DigestMemo } from './digest-memo.js'
export type { DigestMemoOptions } from './digest-memo.js'
export type { Digest } from './hash.js'
export { ResultCache } from './result-cache.js'
export type { ResultCacheOptions } from './result-cache.js'
export { NoCache } from './no-cache.js'
export { pruneCache } from './prune-cache.js'
export { CacheError } from './cache-error.js'
export { DEFAULT_CACHE_DIR, defaultCacheDir } from './layout.js'
export { stableJson } from './stable-json.js'
export type { JsonValue } from './stable-json.js'
export { engineVersion, ortVersion } from './versions.js'
export type {
  Blobs,
  CacheLogger,
  CacheStats,
  PrunedEntry,
  PruneOptions,
  PruneResult,
  QuantizeCache,
  WriteOutcome,
} from './types.js'

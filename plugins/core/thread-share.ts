import { availableCores } from '../../src/runtime/cores.js'

// the engine's own cap on ranking threads (src/quant/rank-weights.ts scoreThreads)
const MAX_RANKING_THREADS = 4

/**
 * Ranking threads for a model that starts while `running` models (itself included) are being
 * quantized: the cores split between them, at least 1, at most the engine's 4. Each model's
 * ranking would otherwise start its own min(4, cores) scoring sessions, so a build of seven
 * models on eight cores ran 35 threads and seven models' worth of sessions at once. The output
 * does not depend on it (scores are per session, one intra-op thread each), so it stays out of
 * the cache key.
 */
export function rankingThreadShare(running: number, cores: number = availableCores()): number {
  return Math.max(1, Math.min(MAX_RANKING_THREADS, Math.floor(cores / Math.max(1, running))))
}

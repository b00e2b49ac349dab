import fs from 'node:fs/promises'
import { type AccuracyGuardConfig, type QuantConfig } from '../cfg/index.js'
import { QuantizeError } from '../errors.js'
import { decodeModelProto } from '../onnx/codec.js'
import { hasExternalData } from '../onnx/tensors.js'
import { unmatchedSkipWarnings } from '../quant/unmatched-skip-names.js'
import type { KnownInputs, ModelInput, QuantizeOptions, QuantizeResult } from '../quantize-model.js'
import { collectDebugStats } from '../report/debug-csv/debug-stats.js'
import { summarizeDebug } from '../report/debug-csv/debug-summary.js'
import { inputSpecs } from '../runtime/feeds.js'
import { verifyModels } from '../runtime/verify.js'
import { heldOutSplit } from './held-out.js'
import { outputCostRanker, type OutputCostRanker } from './output-cost.js'
import { rankNodes, type RankedNode } from './rank-nodes.js'

/**
 * Calibration samples the FULL_QUANT output-cost ranking measures on: each ranked node costs one
 * gated run per sample, and per-sample costs scatter widely (on PP-OCRv4 rec one word's output
 * cosine moves by 0.03 where another's does not move), so fewer samples rank by noise.
 */
const RANK_SAMPLES = 6
/**
 * Later rankings re-measure only nodes whose float return cost the output less than this in the
 * ranking before (cosine): each ranking is one gated run per node and sample (PP-OCRv4 rec: 89
 * nodes measured in the first ranking, then 55, 39, 23, 14, 6, 4).
 */
const RESCREEN_BELOW = 0.001

/** One quantization the guard tried: the nodes it returned to float and the held-out cosine. */
export interface GuardStep {
  skipped: string[]
  cosine: number
}

/** What `[accuracy_guard]` (our extension) did, in the report. */
export interface GuardReport {
  minCosine: number
  autoSkip: boolean
  maxSkippedNodes: number
  calibrationSamples: number
  heldOutSamples: number
  /** Held-out output cosine of the plain quantization and of the result. */
  cosineBefore: number
  cosineAfter: number
  reached: boolean
  /** Nodes the guard returned to float (on top of the cfg's skip_quant_node), most costly first. */
  skipped: string[]
  /** The cfg line that reproduces the result without the guard. */
  skipLine: string | null
  /** Every quantization tried, in order (the first is the plain one). */
  steps: GuardStep[]
  /** The ranked candidates (at most max_skipped_nodes) and what each costs. */
  ranking: RankedNode[]
  /**
   * How nodes were ranked: `output-cost` (FULL_QUANT: the output cosine each gains back in
   * float, measured with gated rounding on calibration samples) or `added-error` (debug
   * statistics: the error each node adds itself); null when no ranking was needed.
   */
  rankedBy: 'output-cost' | 'added-error' | null
  /** Why FULL_QUANT fell back to the added-error ranking, when it did. */
  rankNote: string | null
}

type QuantizeOnce = (input: ModelInput, cfg: QuantConfig, options: QuantizeOptions, known: Pick<KnownInputs, 'skipWarnings'>) => Promise<QuantizeResult>

/**
 * The accuracy guard: quantize as the cfg says (calibrating on all but the held-out samples),
 * measure output cosine vs fp32 on the held-out samples, and below `min_cosine` (with
 * `auto_skip`) return the nodes that cost the most accuracy to float, fewest first: galloping
 * 1, 2, 4... up to max_skipped_nodes, then bisecting, re-quantizing each time through the
 * cfg's own skip_quant_node so that any mode works the same way. FULL_QUANT nodes are ranked
 * by what their rounding costs the output (src/guard/output-cost.ts), other modes' by the error
 * each adds itself (debug statistics). Fails with the best result it found when the target
 * stays out of reach.
 */
export async function runAccuracyGuard(input: ModelInput, cfg: QuantConfig, guard: AccuracyGuardConfig, options: QuantizeOptions, quantizeOnce: QuantizeOnce): Promise<QuantizeResult> {
  const label = typeof input === 'string' ? input : '<bytes>'
  const reference = typeof input === 'string' ? new Uint8Array(await fs.readFile(input)) : input
  let specs
  let external: boolean
  // the cfg's own skip_quant_node names, warned about once for every round (the guard adds names of the model's nodes)
  let skipWarnings: string[]
  try {
    const decoded = decodeModelProto(reference)
    specs = inputSpecs(decoded)
    external = hasExternalData(decoded)
    skipWarnings = unmatchedSkipWarnings(decoded, cfg)
  } catch (err) {
    throw new QuantizeError(label, (err as Error).message, 'input', { cause: err })
  }
  const warnings: string[] = []
  const { calibration, heldOut } = await heldOutSplit(label, cfg, specs, options.samples, warnings)
  const held = async (r: QuantizeResult): Promise<number> => {
    const v = await verifyModels(typeof input === 'string' ? input : reference, r.model, r.externalData, cfg, { specs, samples: heldOut.length, given: heldOut })
    if (v.cosine === null) throw new QuantizeError(label, `[accuracy_guard] could not measure the quantized model: ${v.error ?? 'no numeric output'}`, 'runtime')
    return v.cosine
  }
  const withSkips = (nodes: string[]): QuantConfig => ({ ...cfg, skipQuantNode: [...cfg.skipQuantNode, ...nodes] })
  const lineFor = (nodes: string[]) => (nodes.length ? `skip_quant_node=${[...cfg.skipQuantNode, ...nodes].join(',')}` : null)

  options.onProgress?.('accuracy guard: quantizing and measuring on held-out samples')
  const first = await quantizeOnce(input, cfg, { ...options, samples: calibration }, { skipWarnings })
  const before = await held(first)
  const steps: GuardStep[] = [{ skipped: [], cosine: before }]
  const base = {
    minCosine: guard.minCosine, autoSkip: guard.autoSkip, maxSkippedNodes: guard.maxSkippedNodes,
    calibrationSamples: calibration.length, heldOutSamples: heldOut.length, cosineBefore: before,
  }
  let ranker: OutputCostRanker | null = null
  let rankNote: string | null = null
  const finish = (result: QuantizeResult, skipped: string[], cosine: number, ranking: RankedNode[]): QuantizeResult => {
    const rankedBy = ranking.length ? ranking[0]!.by : null
    result.report.guard = { ...base, cosineAfter: cosine, reached: true, skipped, skipLine: lineFor(skipped), steps, ranking, rankedBy, rankNote }
    result.report.warnings.push(...warnings)
    return result
  }
  if (before >= guard.minCosine) return finish(first, [], before, [])

  // Rank on calibration samples, not the held-out ones the target is judged on, and rank again
  // after each batch of nodes goes back to float: once the worst layers are exact, which of the
  // rest costs the most changes (on PP-OCR cls at 2 bit this halves the nodes needed).
  const rankOn = async (r: QuantizeResult, exclude: readonly string[]): Promise<RankedNode[]> => {
    if (ranker) {
      try {
        const ranked = await ranker.rank(exclude)
        options.onProgress?.(`accuracy guard: ${ranked.length} node(s) gain in float with ${exclude.length} already float (${ranker.runs()} gated runs so far)`)
        return ranked
      } catch (err) {
        throw new QuantizeError(label, `[accuracy_guard] could not rank nodes by output cost: ${(err as Error).message.split('\n')[0]}`, 'runtime', { cause: err })
      }
    }
    try {
      // a quantization's own debug statistics (on calibration samples) serve when it has them
      const layers = r.report.debug?.layers ?? summarizeDebug(
        await collectDebugStats(reference, r.model, calibration.slice(0, 2), { quantiles: false, histograms: false }),
        r.report.layers, { quantType: cfg.quantType, skipQuantNode: [...cfg.skipQuantNode, ...exclude], inputs: 'calibration' },
      ).layers
      return rankNodes(layers, [...cfg.skipQuantNode, ...exclude])
    } catch (err) {
      if (err instanceof QuantizeError) throw err
      throw new QuantizeError(label, `[accuracy_guard] could not rank nodes: ${(err as Error).message.split('\n')[0]}`, 'runtime', { cause: err })
    }
  }
  if (first.report.full) {
    options.onProgress?.(`accuracy guard: measuring what rounding each node costs the output, on ${Math.min(RANK_SAMPLES, calibration.length)} calibration samples`)
    try {
      ranker = await outputCostRanker(reference, first.model, first.report.full, cfg, calibration.slice(0, RANK_SAMPLES), { rescreenBelow: RESCREEN_BELOW })
    } catch (err) {
      // the ranking is a means, not the result: the added-error ranking still works
      rankNote = `output-cost ranking unavailable (${(err as Error).message.split('\n')[0]}); ranked by the error each node adds`
      warnings.push(`[accuracy_guard] ${rankNote}`)
    }
  }
  try {
    options.onProgress?.('accuracy guard: ranking nodes by the accuracy they cost')
    const ranking: RankedNode[] = []
    const extend = async (to: number, from: QuantizeResult): Promise<void> => {
      const more = await rankOn(from, ranking.map((r) => r.node))
      ranking.push(...more.slice(0, Math.max(0, Math.min(to, guard.maxSkippedNodes) - ranking.length)))
    }
    const fail = (why: string): never => {
      const best = steps.reduce((a, b) => (b.cosine > a.cosine ? b : a))
      const bestText = best.skipped.length
        ? `best ${best.cosine.toFixed(6)} with ${best.skipped.length} node(s) in float (${lineFor(best.skipped)})`
        : `best ${best.cosine.toFixed(6)}`
      throw new QuantizeError(label, `[accuracy_guard] min_cosine=${guard.minCosine} not reached: output cosine ${before.toFixed(6)} on ${heldOut.length} held-out sample(s); ${why}; ${bestText}`, 'config')
    }
    // ranking runs both models tensor by tensor from memory, which a model with external data is not
    // (see ModeContext.hasExternalData); the held-out check above runs them from files
    if (external) return fail('nodes are not ranked on a model with external data, which is not run from memory; name the nodes to keep float in skip_quant_node')
    if (!guard.autoSkip) {
      await extend(3, first)
      const hint = ranking.map((r) => r.node)
      return fail(`auto_skip=false${hint.length ? `; the nodes that cost the most are ${hint.join(', ')} (${lineFor(hint)})` : ''}`)
    }
    if (guard.maxSkippedNodes === 0) return fail('max_skipped_nodes=0')

    const results = new Map<number, number>([[0, before]])
    const probe = async (k: number): Promise<QuantizeResult | null> => {
      const nodes = ranking.slice(0, k).map((r) => r.node)
      options.onProgress?.(`accuracy guard: ${k} node(s) in float`)
      const r = await quantizeOnce(input, withSkips(nodes), { ...options, samples: calibration, verify: false, sizes: false, debug: false }, { skipWarnings })
      const cosine = await held(r)
      options.onProgress?.(`accuracy guard: ${k} node(s) in float: held-out cosine ${cosine.toFixed(6)}`)
      steps.push({ skipped: nodes, cosine })
      results.set(k, cosine)
      return cosine >= guard.minCosine ? null : r
    }
    // gallop: 1, 2, 4, ... nodes, each batch ranked on the model with the previous batch in float
    let lo = 0
    let hi = -1
    let current = first
    for (let k = 1; ; k = Math.min(k * 2, guard.maxSkippedNodes)) {
      await extend(k, current)
      if (ranking.length <= lo) break // nothing left to return to float
      const size = Math.min(k, ranking.length)
      const missed = await probe(size)
      if (!missed) {
        hi = size
        break
      }
      lo = size
      current = missed
      if (size >= guard.maxSkippedNodes) break
    }
    if (hi < 0) {
      if (ranking.length >= guard.maxSkippedNodes) return fail(`max_skipped_nodes=${guard.maxSkippedNodes} reached`)
      if (ranker) return fail(`no ${ranking.length ? 'further ' : ''}node raises the output cosine on the calibration samples by returning to float${ranking.length ? ` (${ranking.length} in float)` : ''}`)
      if (ranking.length === 0) return fail('no node that skip_quant_node can name is quantized')
      return fail(`all ${ranking.length} quantized node(s) are in float`)
    }
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1
      if (!(await probe(mid))) hi = mid
      else lo = mid
    }
    const skipped = ranking.slice(0, hi).map((r) => r.node)
    options.onProgress?.(`accuracy guard: final quantization with ${hi} node(s) in float`)
    const final = await quantizeOnce(input, withSkips(skipped), { ...options, samples: calibration }, { skipWarnings })
    return finish(final, skipped, results.get(hi)!, ranking)
  } finally {
    await ranker?.release()
  }
}

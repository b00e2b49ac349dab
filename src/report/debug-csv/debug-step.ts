import type { QuantConfig } from '../../cfg/index.js'
import { QuantizeError } from '../../errors.js'
import type { QuantizedLayer } from '../../quant/weight-quant.js'
import { sampleElements, type Feeds, type InputSpec } from '../../runtime/feeds.js'
import { verificationSamples } from '../../runtime/verify.js'
import { debugCsvFiles, type CsvFile } from './debug-csv-files.js'
import { collectDebugStats } from './debug-stats.js'
import { summarizeDebug, type DebugSummary } from './debug-summary.js'
import { writeDebugCsv } from './write-debug-csv.js'

/** Inputs up to this many elements per sample make the debug pass cheap enough to run by default. */
export const SMALL_INPUT_ELEMENTS = 1 << 20

export interface DebugStepInput {
  /**
   * The float model's bytes (the debug pass does not read external data): the model the
   * quantized one was made from (ModeResult.debugReference), else the model as given.
   */
  reference: Uint8Array
  /** ModeResult.originalNames: the user's names of the reference's renamed tensors. */
  originalNames?: ReadonlyMap<string, string>
  /** ModeResult.decodedWeights. */
  decodedWeights?: ReadonlyMap<string, () => Float32Array>
  /** The nodes computing in integers, when the mode knows them (FULL_QUANT's quantizedNodes). */
  int8Nodes?: ReadonlySet<string>
  quantized: Uint8Array
  hasExternalData: boolean
  cfg: QuantConfig
  specs: InputSpec[]
  layers: readonly QuantizedLayer[]
  given: Feeds[] | undefined
  /** true/false: the caller's `debug` option; undefined: decide by input size. */
  requested: boolean | undefined
  verified: boolean
  warnings: string[]
  onProgress?: (message: string) => void
}

export interface DebugStepResult {
  summary: DebugSummary
  /** The format's CSVs, when asked for (the cfg's debug_info_save_path or `debug: true`); else empty. */
  csv: CsvFile[]
  /** Where debug_info_save_path received the CSVs. */
  written: string[]
}

/**
 * The debug reports, after verification: per-tensor statistics of the float and the quantized
 * model (report_<round>.csv, output_summary.csv, quant_param.csv) and their summary for the
 * HTML report. Rounds: one per calibration sample for FULL_QUANT, one otherwise. The CSVs are
 * written into debug_info_save_path when the cfg sets it.
 */
export async function debugStep(input: DebugStepInput): Promise<DebugStepResult | null> {
  const { cfg, warnings } = input
  const wanted = cfg.debugInfoSavePath !== null || input.requested === true
  if (input.requested === false || (!wanted && !input.verified)) return null
  if (input.hasExternalData) {
    if (wanted) warnings.push('debug reports skipped: models with external data are not measured tensor by tensor')
    return null
  }
  let samples: Feeds[]
  let inputs: DebugSummary['inputs']
  // the format's one report per calibration sample is for the CSVs someone asked for; the page needs one
  const rounds = wanted && cfg.quantType === 'FULL_QUANT' ? cfg.dataPreprocess?.calibrateSize ?? 1 : 1
  if (input.given) {
    samples = input.given.slice(0, rounds)
    inputs = 'given'
  } else {
    // bad calibration data is the user's to fix, and verification has reported it by now
    const made = await verificationSamples(input.specs, cfg, rounds)
    samples = made.samples
    inputs = made.inputs
  }
  if (samples.length === 0) return null
  if (!wanted && sampleElements(samples[0]!) > SMALL_INPUT_ELEMENTS) return null
  input.onProgress?.('collecting per-tensor debug statistics')
  let summary: DebugSummary
  let csv: CsvFile[]
  try {
    // Unasked, the pass serves the report's summary, which reads no quartiles: on PP-OCRv4 det
    // (one 320x320 sample, 89 M values over both models) they were half its time.
    const stats = await collectDebugStats(input.reference, input.quantized, samples, { quantiles: wanted, originalNames: input.originalNames, decodedWeights: input.decodedWeights, int8Nodes: input.int8Nodes })
    summary = summarizeDebug(stats, input.layers, { quantType: cfg.quantType, skipQuantNode: cfg.skipQuantNode, inputs })
    csv = wanted ? debugCsvFiles(stats, input.layers) : []
  } catch (err) {
    if (err instanceof QuantizeError) throw err
    // only a requested report is worth a warning; the default one is a bonus
    if (wanted) warnings.push(`debug reports skipped: the models could not run tensor by tensor (${(err as Error).message.split('\n')[0]})`)
    return null
  }
  const written = cfg.debugInfoSavePath ? writeDebugCsv(cfg.debugInfoSavePath, csv) : []
  return { summary, csv, written }
}

import type { QuantConfig } from '../cfg/index.js'
import { QuantizeError } from '../errors.js'
import { TUNING_SAMPLES, tuningFeeds, type Feeds, type InputSpec } from './feeds.js'
import { verificationSamples } from './verify.js'

/** The inputs a data-driven refinement fits to, and where they came from. */
export interface RefinementSamples {
  samples: Feeds[]
  inputs: 'calibration' | 'given' | 'generated'
}

/**
 * Inputs that stand for the model's real use, for bias correction and the accuracy target of
 * WEIGHT_QUANT and mixed bit: the caller's samples, the cfg's calibration data, else, when
 * `allowGenerated` (the accuracy target runs), generated natural-looking inputs
 * (src/runtime/natural-inputs.ts: on PP-OCR det at 8 bit, bias correction and the accuracy target
 * on them took the realistic-input cosine from 0.99920 to 0.99987; on uniform noise det's output
 * map is empty and the same pass ranks the wrong layers). Null, with a warning, when none can be
 * made; bad calibration data is the user's to fix and throws. At most TUNING_SAMPLES of them.
 */
export async function refinementSamples(specs: InputSpec[], cfg: QuantConfig, given: Feeds[] | undefined, warnings: string[], allowGenerated: boolean): Promise<RefinementSamples | null> {
  // refinements fit to at most this many; more given ones would only cost time
  if (given) return { samples: given.slice(0, TUNING_SAMPLES), inputs: 'given' }
  if (!cfg.dataPreprocess) {
    if (!allowGenerated) return null
    try {
      return { samples: tuningFeeds(specs), inputs: 'generated' }
    } catch (err) {
      warnings.push(`generated inputs could not be made: ${(err as Error).message.split('\n')[0]}`)
      return null
    }
  }
  try {
    return await verificationSamples(specs, cfg, TUNING_SAMPLES, warnings)
  } catch (err) {
    if (err instanceof QuantizeError) throw err
    warnings.push(`calibration inputs could not be made: ${(err as Error).message.split('\n')[0]}`)
    return null
  }
}

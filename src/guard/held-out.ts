import { openCalibrationSet } from '../calibrate/calibration-set.js'
import type { QuantConfig } from '../cfg/index.js'
import { QuantizeError } from '../errors.js'
import type { Feeds, InputSpec } from '../runtime/feeds.js'

export interface HeldOutSplit {
  /** Samples the quantization may calibrate and tune on. */
  calibration: Feeds[]
  /** Samples only the guard's measurement sees. */
  heldOut: Feeds[]
}

/**
 * The guard's samples: the caller's, else the cfg's calibration set, with the last quarter (at
 * least one) held back from calibration so that the target is checked on inputs the
 * quantization never saw.
 */
export async function heldOutSplit(label: string, cfg: QuantConfig, specs: InputSpec[], given: Feeds[] | undefined, warnings: string[]): Promise<HeldOutSplit> {
  let all: Feeds[]
  if (given) all = given
  else if (cfg.dataPreprocess) {
    const set = await openCalibrationSet(specs, cfg, warnings)
    all = []
    for (let i = 0; i < set.count; i++) all.push(await set.sample(i))
  } else {
    throw new QuantizeError(cfg.source, '[accuracy_guard] needs real inputs to measure on: set calibrate_path, calibrate_size and input_type in [data_preprocess_param] (library: or pass samples)', 'config')
  }
  if (all.length < 2) {
    throw new QuantizeError(cfg.source, `[accuracy_guard] needs at least 2 calibration samples for ${label} (some to calibrate on, one held back to check the target); it has ${all.length}`, 'config')
  }
  const held = Math.max(1, Math.floor(all.length / 4))
  return { calibration: all.slice(0, all.length - held), heldOut: all.slice(all.length - held) }
}

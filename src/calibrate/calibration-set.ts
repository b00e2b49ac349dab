import { keyLocation, type QuantConfig } from '../cfg/index.js'
import { QuantizeError } from '../errors.js'
import type { Feeds, InputSpec } from '../runtime/feeds.js'
import { firstNonFinite } from '../runtime/non-finite.js'
import { binSquareGuess, binTensor } from './bin-samples.js'
import { calibrationFiles, inputFolders, isCalibrationFile } from './calibration-files.js'
import { imageTensor } from './image-sample.js'

/**
 * The cfg's calibration samples. Samples are read on demand, one at a time, so a set of a
 * hundred detector images never sits in memory at once.
 */
export interface CalibrationSet {
  readonly count: number
  /** The files sample `i` is made of, one per model input in input order. */
  files(i: number): string[]
  /** Sample `i` as feeds for every model input (read and preprocessed on each call). */
  sample(i: number): Promise<Feeds>
}

/** Samples the caller already holds as a set (library use, the accuracy guard's split, the float-model runs of data-driven refinements). */
export function samplesSet(samples: readonly Feeds[]): CalibrationSet {
  return {
    count: samples.length,
    files: () => [],
    sample: async (i) => {
      const s = samples[i]
      if (!s) throw new RangeError(`calibration sample ${i} is out of range 0..${samples.length - 1}`)
      return s
    },
  }
}

/**
 * Open the cfg's `[data_preprocess_param]` calibration data for a model with inputs `specs`:
 * each input's folder, its files in sorted order, the first `calibrate_size`. Fewer files than
 * asked is a warning pushed to `warnings`; a missing section, an unknown input name or an empty
 * folder is an error naming the cfg.
 */
export async function openCalibrationSet(specs: InputSpec[], cfg: QuantConfig, warnings: string[]): Promise<CalibrationSet> {
  const pre = cfg.dataPreprocess
  if (!pre) throw new QuantizeError(cfg.source, `${cfg.quantType} needs calibration data: set calibrate_path, calibrate_size and input_type in [data_preprocess_param]`, 'config')
  // errors about calibrate_path point at its line
  const at = keyLocation(cfg, 'calibrate_path')
  const folders = inputFolders(pre, specs, at)
  const what = pre.inputType === 'BIN' ? '.bin' : 'image'
  const found: number[] = []
  const perInput = specs.map((spec) => {
    const dir = folders.get(spec)!
    const all = calibrationFiles(dir, at, (n) => isCalibrationFile(n, pre.inputType), what, warnings)
    found.push(all.length)
    if (all.length < pre.calibrateSize) warnings.push(`calibrate_size=${pre.calibrateSize} but ${dir} has only ${all.length} ${what} file(s); calibrating on ${all.length}`)
    if (pre.inputType === 'BIN' && binSquareGuess(spec)) {
      // a file's size tells H·W, not H and W apart
      warnings.push(`input '${spec.name}' is [${spec.dims.map((d) => d ?? '?').join(', ')}]: each .bin file in ${dir} is read as a square (H = W from its size), so a sample that is not square is scrambled; calibrate with input_type=IMAGE or give the model fixed H and W`)
    }
    return all.slice(0, pre.calibrateSize)
  })
  const count = Math.min(...perInput.map((f) => f.length))
  if (perInput.some((f) => f.length !== count)) {
    warnings.push(`calibration folders hold different numbers of files (${specs.map((s, k) => `${s.name}: ${found[k]}`).join(', ')}); using the first ${count} of each`)
  }
  const check = (i: number): void => {
    if (!Number.isInteger(i) || i < 0 || i >= count) throw new RangeError(`calibration sample ${i} is out of range 0..${count - 1}`)
  }
  return {
    count,
    files(i) {
      check(i)
      return perInput.map((f) => f[i]!)
    },
    async sample(i) {
      check(i)
      const feeds: Feeds = {}
      for (let k = 0; k < specs.length; k++) {
        const spec = specs[k]!
        const file = perInput[k]![i]!
        const t = pre.inputType === 'BIN' ? binTensor(file, spec) : await imageTensor(file, spec, pre, cfg)
        // one NaN would spread through every range and channel mean calibration computes
        const bad = firstNonFinite(t)
        if (bad >= 0) throw new QuantizeError(file, `holds ${String((t.data as Float32Array)[bad])} at element ${bad}: calibration data must be finite`, 'input')
        feeds[spec.name] = t
      }
      return feeds
    },
  }
}

/**
 * Start reading sample `i` ahead of its use. A failure stays in the returned promise for the
 * consumer to await; it is not an unhandled rejection if the consumer stops first.
 */
export function prefetch(set: CalibrationSet, i: number): Promise<Feeds> {
  const p = set.sample(i)
  p.catch(() => undefined)
  return p
}

import fs from 'node:fs'
import { resolveLocation } from '../onnx/external-data.js'
import { makeDirsSync } from '../make-dirs.js'
import { makeTempDir, removeTempDir } from '../temp-dirs.js'
import path from 'node:path'
import type { QuantConfig } from '../cfg/index.js'
import { openCalibrationSet } from '../calibrate/calibration-set.js'
import { QuantizeError } from '../errors.js'
import { CandidateRunError, RecordedReference, compareModels, type OutputComparison } from './compare-models.js'
import { exactInt8Twin } from './exact-int8.js'
import { int8DotSaturates } from './int8-saturation.js'
import { generatedFeeds, type Feeds, type InputSpec } from './feeds.js'

export interface Verification {
  /** Minimum over tensor outputs of the cosine similarity vs fp32 (compareModels: mean over samples, across them for outputs of one element); null when the models could not run or have no tensor output. */
  cosine: number | null
  outputs: OutputComparison[]
  samples: number
  /**
   * What the models ran on: `held-out` files of the calibration folders beyond calibrate_size
   * (never used to calibrate or tune), else the `calibration` samples themselves (the cosine
   * then flatters a calibrated mode), `generated` inputs without data, or the caller's (`given`).
   */
  inputs: 'held-out' | 'calibration' | 'generated' | 'given'
  /** Why the models could not be compared, when they could not. */
  error: string | null
  /**
   * FULL_QUANT and DYNAMIC_QUANT models are compared as their int8 ops define them (the same on
   * every CPU and in onnxruntime-web; src/runtime/exact-int8.ts). On an x86 CPU without VNNI,
   * whose int8 kernels saturate, this is the cosine onnxruntime-node's default session gives on
   * this machine; null elsewhere.
   */
  nativeInt8Cosine: number | null
}

export interface VerifyOptions {
  /** The float model's inputs, read from it before quantization rewrote it. */
  specs: InputSpec[]
  samples: number
  /** Inputs the caller supplied; used instead of calibration data or generated inputs. */
  given?: Feeds[]
}

/**
 * Samples to compare on: the cfg's calibration data (BIN or IMAGE) when present, else generated
 * inputs. Calibration warnings (fewer files than calibrate_size) go to `warnings` when given.
 */
export async function verificationSamples(specs: InputSpec[], cfg: QuantConfig, count: number, warnings: string[] = []): Promise<{ samples: Feeds[]; inputs: 'calibration' | 'generated' }> {
  if (cfg.dataPreprocess) {
    const set = await openCalibrationSet(specs, cfg, warnings)
    const samples: Feeds[] = []
    for (let i = 0; i < Math.min(count, set.count); i++) samples.push(await set.sample(i))
    return { samples, inputs: 'calibration' }
  }
  return { samples: Array.from({ length: count }, (_, i) => generatedFeeds(specs, 1234 + i)), inputs: 'generated' }
}

/**
 * Samples to verify on: files of the calibration folders beyond the first `calibrate_size`
 * (the ones calibration and bias correction never read) when the folders hold more, else what
 * `verificationSamples` gives. A user who keeps a few extra files in the folder gets a cosine
 * measured on inputs the quantization did not fit.
 */
export async function heldOutOrCalibrationSamples(specs: InputSpec[], cfg: QuantConfig, count: number, warnings: string[] = []): Promise<{ samples: Feeds[]; inputs: Verification['inputs'] }> {
  const pre = cfg.dataPreprocess
  if (pre && count > 0) {
    // the same folders and sort order, read further; its warnings (fewer files than that) are moot
    const wider = await openCalibrationSet(specs, { ...cfg, dataPreprocess: { ...pre, calibrateSize: pre.calibrateSize + count } }, [])
    if (wider.count > pre.calibrateSize) {
      const samples: Feeds[] = []
      for (let i = pre.calibrateSize; i < wider.count; i++) samples.push(await wider.sample(i))
      return { samples, inputs: 'held-out' }
    }
  }
  return verificationSamples(specs, cfg, count, warnings)
}

/**
 * Run fp32 and quantized models side by side in onnxruntime-node. A model that cannot run on the
 * samples (an input whose meaning generated values do not satisfy, an op this runtime lacks) gives
 * cosine null and the reason, rather than failing the quantization. A quantized model that fails
 * where the float one runs is a broken output: that is an error, so it is never emitted.
 */
export async function verifyModels(reference: string | Uint8Array, candidate: Uint8Array, externalData: { location: string; bytes: Uint8Array } | null, cfg: QuantConfig, options: VerifyOptions): Promise<Verification> {
  // Bad calibration data is the user's to fix: that error propagates; a model that cannot run does not.
  let inputs: Verification['inputs'] = 'given'
  let samples: Feeds[]
  try {
    if (options.given) samples = options.given
    else ({ samples, inputs } = await heldOutOrCalibrationSamples(options.specs, cfg, options.samples))
  } catch (err) {
    if (err instanceof QuantizeError) throw err
    return { cosine: null, outputs: [], samples: 0, inputs: 'generated', error: `verification could not make inputs: ${(err as Error).message.split('\n')[0]}`, nativeInt8Cosine: null }
  }
  const int8 = cfg.quantType !== 'WEIGHT_QUANT'
  let tmp: string | null = null
  try {
    const exact = int8 ? exactInt8Twin(candidate) : candidate
    let candidateSource: string | Uint8Array = exact
    let nativeSource: string | Uint8Array = candidate
    if (externalData) {
      // onnxruntime resolves external data relative to the model file, so lay both out on disk
      tmp = makeTempDir('unplugin-quantize-verify-')
      // a location may name a subfolder ('weights/model.data')
      const dataFile = resolveLocation(tmp, externalData.location)
      makeDirsSync(path.dirname(dataFile))
      fs.writeFileSync(dataFile, externalData.bytes)
      candidateSource = nativeSource = path.join(tmp, 'model.onnx')
      fs.writeFileSync(candidateSource, candidate)
      if (exact !== candidate) {
        candidateSource = path.join(tmp, 'model-exact-int8.onnx')
        fs.writeFileSync(candidateSource, exact)
      }
    }
    // where the int8 kernels' own result is measured too, the float model runs once for both
    const twice = int8 && int8DotSaturates()
    const float = twice ? await RecordedReference.record(reference, samples) : reference
    const result = await compareModels(float, candidateSource, samples, { int8: int8 ? 'exact' : 'kernels' })
    const native = twice ? (await compareModels(float, nativeSource, samples)).cosine : null
    return { cosine: result.cosine, outputs: result.outputs, samples: result.samples, inputs, error: null, nativeInt8Cosine: native }
  } catch (err) {
    if (err instanceof CandidateRunError) throw new QuantizeError(typeof reference === 'string' ? reference : '<bytes>', `${err.message} (please report this with the model and cfg)`, 'runtime', { cause: err })
    return { cosine: null, outputs: [], samples: 0, inputs, error: `verification could not run the models: ${(err as Error).message.split('\n')[0]}`, nativeInt8Cosine: null }
  } finally {
    if (tmp) removeTempDir(tmp)
  }
}

import type { QuantConfig } from '../cfg/index.js'
import type { FileExternalData } from '../onnx/external-data.js'
import type { ModelProto } from '../onnx/onnx-types.js'
import type { ErrorFeedbackReport } from '../quant/error-feedback/feedback-weights.js'
import type { WeightQuantResult } from '../quant/weight-quant.js'
import type { QuantizeOptions, TunedAccuracy } from '../quantize-model.js'
import type { InputSpec } from '../runtime/feeds.js'
import type { DynamicQuantReport } from './dynamic-quant.js'
import type { FullQuantReport } from './full-quant.js'
import type { MixedBitReport } from './mixed-bit.js'

/** What every quantization mode gets: the decoded model (rewritten in place) and its sources. */
export interface ModeContext {
  /** Decoded float model; a mode rewrites it in place or returns a replacement in `ModeResult.model`. */
  model: ModelProto
  /** The float model's protobuf bytes, for onnxruntime sessions on the original. */
  bytes: Uint8Array
  /** The model's external data when it has any (the model was read from a path). */
  ext: FileExternalData | null
  /**
   * The model keeps tensors in external data (`ext` is where they are read from). onnxruntime looks for the external data of a model
   * it loads from bytes under the working directory (and refuses files outside it), so a run
   * would work or fail by where the process started: modes do not run such a model.
   */
  hasExternalData: boolean
  cfg: QuantConfig
  /** The float model's inputs, read before any rewrite. */
  specs: InputSpec[]
  options: QuantizeOptions
  /** The model's path or '<bytes>', for messages. */
  label: string
  /** Push user-facing warnings here; they end in the report. */
  warnings: string[]
}

export interface ModeResult extends WeightQuantResult {
  /** A replacement for `ctx.model` when the mode built a new graph rather than editing in place. */
  model?: ModelProto
  accuracy: TunedAccuracy | null
  full?: FullQuantReport
  dynamic?: DynamicQuantReport
  mixedBit?: MixedBitReport
  /** What WEIGHT_QUANT's error-feedback rounding did; absent or null when it did not run. */
  errorFeedback?: ErrorFeedbackReport | null
  /**
   * The float model the quantized graph was made from, when it is not the model as given
   * (FULL_QUANT folds BatchNormalization and affines into convs first, so the int8 weights are
   * new tensors and conv outputs take the folded chain's name): the debug reports compare the
   * quantized model with this one, which reads the same tensors the same way.
   */
  debugReference?: Uint8Array
  /** Tensors of `debugReference` that the user's model has under another name (folded weights): reports use that name. */
  originalNames?: ReadonlyMap<string, string>
  /**
   * Quantized weights that no tensor of the quantized model holds as float (DYNAMIC_QUANT's
   * MatMulInteger reads the codes; its scale is applied to the product): their values as the
   * model computes with them, in the float weight's layout, for the debug reports' Dequant rows.
   * Decoded when a report asks (most runs make none): a float copy of every weight otherwise.
   */
  decodedWeights?: ReadonlyMap<string, () => Float32Array>
}

/**
 * The warning for the steps a model with external data does not get (see
 * ModeContext.hasExternalData); `steps` holds false for those that would not have run anyway.
 * Null when none would have.
 */
export function notRunExternal(steps: readonly (string | false)[]): string | null {
  const run = steps.filter((s): s is string => s !== false)
  if (!run.length) return null
  const list = run.length > 1 ? `${run.slice(0, -1).join(', ')} and ${run.at(-1)}` : run[0]
  return `${list} skipped: a model with external data is not run while quantizing (onnxruntime would look for its data under the working directory)`
}

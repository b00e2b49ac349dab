import { rejectValue } from './coerce-value.js'
import type { Warn } from './classify-entries.js'
import { CFG_SCHEMA, keySpec } from './schema.js'
import type { Slots } from './slots.js'
import type { DataPreprocessConfig, QuantType } from './types.js'

const DATA = 'data_preprocess_param'
const KEYS = CFG_SCHEMA.data_preprocess_param.keys
const CALIBRATION_KEYS = ['calibrate_path', 'calibrate_size', 'input_type'] as const

export interface DataPreprocessContext {
  source: string
  quantType: QuantType
  slots: Slots
  /** Line of the [data_preprocess_param] header, when the cfg has one. */
  headerLine: number | null
  warn: Warn
  /** Throws the "missing key" error for a key FULL_QUANT cannot do without. */
  missing: (key: (typeof CALIBRATION_KEYS)[number], need: string) => never
  /** The caller brings calibration samples itself (the library's `samples`): FULL_QUANT needs no folder. */
  samplesGiven: boolean
}

/**
 * [data_preprocess_param], or null when there is no complete calibration setup. FULL_QUANT
 * needs one; other modes keep it when complete and warn when a partial one is ignored.
 */
export function resolveDataPreprocess(ctx: DataPreprocessContext): DataPreprocessConfig | null {
  const { slots, warn } = ctx
  const calibratePath = slots.calibratePath(DATA, 'calibrate_path')
  const calibrateSize = slots.int(DATA, 'calibrate_size')
  const inputType = slots.choice(DATA, 'input_type', KEYS.input_type.values)
  const mean = slots.vector(DATA, 'normalize_mean')
  const std = slots.vector(DATA, 'normalize_std')

  const stdSlot = slots.get(DATA, 'normalize_std')
  if (mean && std && stdSlot && mean.length !== std.length) {
    const meanLine = slots.get(DATA, 'normalize_mean')?.entry.line
    rejectValue(
      stdSlot.entry,
      ctx,
      `has ${std.length} values but normalize_mean${meanLine ? ` (line ${meanLine})` : ''} has ${mean.length}`,
      `as many values as normalize_mean (${mean.length})`,
    )
  }

  if (ctx.quantType === 'FULL_QUANT' && !ctx.samplesGiven) {
    const need = (key: string): string => `quant_type=FULL_QUANT needs ${key} in [${DATA}]`
    if (!calibratePath) return ctx.missing('calibrate_path', `${need('calibrate_path')} (calibration data)`)
    if (calibrateSize === undefined) return ctx.missing('calibrate_size', need('calibrate_size'))
    if (!inputType) return ctx.missing('input_type', need('input_type'))
  }

  if (!calibratePath || calibrateSize === undefined || !inputType) {
    if (slots.inSection(DATA).length > 0) {
      const absent = CALIBRATION_KEYS.filter((key) => !slots.get(DATA, key))
      warn(ctx.headerLine, null, `[${DATA}] is ignored: it needs ${absent.join(', ')} as well`)
    }
    return null
  }

  const image = inputType === 'IMAGE'
  if (!image) {
    for (const { entry } of slots.inSection(DATA)) {
      if (keySpec(DATA, entry.key)?.imageOnly) {
        warn(entry.line, entry.key, `${entry.key} is ignored because input_type=BIN; it applies to IMAGE input only`)
      }
    }
  }
  const imageOnly = <T>(value: T | undefined): T | null => (image && value !== undefined ? value : null)
  return {
    calibratePath,
    calibrateSize,
    inputType,
    imageToFormat: imageOnly(slots.choice(DATA, 'image_to_format', KEYS.image_to_format.values)),
    normalizeMean: imageOnly(mean),
    normalizeStd: imageOnly(std),
    resizeWidth: imageOnly(slots.int(DATA, 'resize_width')),
    resizeHeight: imageOnly(slots.int(DATA, 'resize_height')),
    resizeMethod: imageOnly(slots.choice(DATA, 'resize_method', KEYS.resize_method.values)) ?? KEYS.resize_method.default,
    centerCropWidth: imageOnly(slots.int(DATA, 'center_crop_width')),
    centerCropHeight: imageOnly(slots.int(DATA, 'center_crop_height')),
  }
}

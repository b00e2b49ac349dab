import { CfgError, location } from './cfg-error.js'
import { coerceValue, rejectValue, showValue, type Coerced } from './coerce-value.js'
import { nearestName } from './nearest-name.js'
import type { RawCfg, RawEntry } from './raw-cfg.js'
import {
  CFG_SCHEMA,
  allKeyNames,
  describeAllowed,
  keySpec,
  sectionNames,
  sectionSpec,
  sectionsOfKey,
  type CfgSectionName,
} from './schema.js'
import type {
  CalibrationSource,
  CfgDiagnostic,
  DataPreprocessConfig,
  QuantConfig,
} from './types.js'

const COMMON = 'common_quant_param'
const MIXED = 'mixed_bit_weight_quant_param'
const FULL = 'full_quant_param'
const DATA = 'data_preprocess_param'
const K = {
  common: CFG_SCHEMA.common_quant_param.keys,
  mixed: CFG_SCHEMA.mixed_bit_weight_quant_param.keys,
  full: CFG_SCHEMA.full_quant_param.keys,
  data: CFG_SCHEMA.data_preprocess_param.keys,
}

interface Slot {
  entry: RawEntry
  value: Coerced
}

/** Validates a scanned or object cfg and fills in defaults. Throws CfgError on the first error. */
export function resolveCfg(raw: RawCfg): QuantConfig {
  const { source } = raw
  const warnings: CfgDiagnostic[] = []
  const warn = (line: number | null, key: string | null, text: string): void => {
    warnings.push({ file: source, line, key, message: `${location(source, line)}${text}` })
  }

  const unknownSections = new Set<string>()
  for (const section of raw.sections) {
    if (sectionSpec(section.name)) continue
    unknownSections.add(section.name)
    warn(section.line, null, unknownSectionMessage(section.name))
  }

  // Keys that exist in the format but sit in the wrong (or an unknown) section: ignored, but
  // remembered so that "missing X" can say where X was actually written.
  const strays = new Map<string, RawEntry>()
  const accepted: RawEntry[] = []
  for (const entry of raw.entries) {
    if (keySpec(entry.section, entry.key)) {
      accepted.push(entry)
      continue
    }
    rejectArraySyntax(entry, source)
    const homes = sectionsOfKey(entry.key)
    if (homes.length > 0 && !strays.has(entry.key)) strays.set(entry.key, entry)
    // An unknown section was already reported as a whole; a line per key would bury that.
    if (unknownSections.has(entry.section)) continue
    if (homes.length > 0) {
      warn(entry.line, entry.key, `key '${entry.key}' belongs in [${homes.join('], [')}], not [${entry.section}]; it is ignored here`)
    } else {
      warn(entry.line, entry.key, unknownKeyMessage(entry.key, entry.section))
    }
  }

  const find = (section: CfgSectionName, key: string): RawEntry | undefined =>
    accepted.find((e) => e.section === section && e.key === key)
  const missing = (section: CfgSectionName, key: string, line: number | null, need: string): never => {
    const spec = keySpec(section, key)
    const allowed = spec ? describeAllowed(spec) : null
    const stray = strays.get(key)
    const where = stray
      ? ` (${stray.line === null ? 'it is set' : `line ${stray.line} sets it`} in [${stray.section}], where it is ignored)`
      : ''
    throw new CfgError(`${location(source, line)}${need}${where}${allowed ? `; allowed: ${allowed}` : ''}`, {
      file: source,
      line,
      key,
      allowed,
    })
  }

  // quant_type first: the allowed range of bit_num depends on it.
  const quantTypeEntry = find(COMMON, 'quant_type')
  if (!quantTypeEntry) return missing(COMMON, 'quant_type', null, `missing quant_type in [${COMMON}]`)
  const quantTypeValue = coerceValue(K.common.quant_type, quantTypeEntry, { source, baseDir: raw.baseDir, quantType: null })
  const quantType = quantTypeValue.type === 'enum' ? oneOf(K.common.quant_type.values, quantTypeValue.value) : undefined
  if (!quantType) throw new Error(`internal: quant_type coerced to ${JSON.stringify(quantTypeValue)}`)

  const slots = new Map<string, Slot>()
  for (const entry of accepted) {
    const spec = keySpec(entry.section, entry.key)
    if (spec) slots.set(`${entry.section}.${entry.key}`, { entry, value: coerceValue(spec, entry, { source, baseDir: raw.baseDir, quantType }) })
  }
  const slot = (section: CfgSectionName, key: string): Slot | undefined => slots.get(`${section}.${key}`)
  const int = (section: CfgSectionName, key: string): number | undefined => {
    const v = slot(section, key)?.value
    return v?.type === 'int' ? v.value : undefined
  }
  const num = (section: CfgSectionName, key: string): number | undefined => {
    const v = slot(section, key)?.value
    return v?.type === 'float' ? v.value : undefined
  }
  const bool = (section: CfgSectionName, key: string): boolean | undefined => {
    const v = slot(section, key)?.value
    return v?.type === 'bool' ? v.value : undefined
  }
  const choice = <T extends string>(section: CfgSectionName, key: string, values: readonly T[]): T | undefined => {
    const v = slot(section, key)?.value
    return v?.type === 'enum' ? oneOf(values, v.value) : undefined
  }
  const vector = (key: string): number[] | undefined => {
    const v = slot(DATA, key)?.value
    return v?.type === 'vector' ? v.value : undefined
  }

  // The format pins both thresholds to 0 in DYNAMIC_QUANT mode; only a user's explicit
  // non-zero value is worth mentioning (the default 16 being dropped is not news).
  let minQuantWeightSize = int(COMMON, 'min_quant_weight_size') ?? K.common.min_quant_weight_size.default
  let minQuantWeightChannel = int(COMMON, 'min_quant_weight_channel') ?? K.common.min_quant_weight_channel.default
  if (quantType === 'DYNAMIC_QUANT') {
    for (const key of ['min_quant_weight_size', 'min_quant_weight_channel']) {
      const set = slot(COMMON, key)
      if (set && set.value.value !== 0) {
        warn(set.entry.line, key, `note: ${key}=${showValue(set.entry.value)} is ignored; DYNAMIC_QUANT always uses 0`)
      }
    }
    minQuantWeightSize = 0
    minQuantWeightChannel = 0
  }

  const skip = slot(COMMON, 'skip_quant_node')?.value
  const debug = slot(COMMON, 'debug_info_save_path')?.value

  return {
    source,
    quantType,
    bitNum: int(COMMON, 'bit_num') ?? K.common.bit_num.default,
    minQuantWeightSize,
    minQuantWeightChannel,
    skipQuantNode: skip?.type === 'list' ? skip.value : [...K.common.skip_quant_node.default],
    debugInfoSavePath: debug?.type === 'path' ? debug.value : null,
    mixedBit: {
      initScale: num(MIXED, 'init_scale') ?? K.mixed.init_scale.default,
      autoTune: bool(MIXED, 'auto_tune') ?? K.mixed.auto_tune.default,
    },
    fullQuant: {
      activationQuantMethod:
        choice(FULL, 'activation_quant_method', K.full.activation_quant_method.values) ??
        K.full.activation_quant_method.default,
      biasCorrection: bool(FULL, 'bias_correction') ?? K.full.bias_correction.default,
      perChannel: bool(FULL, 'per_channel') ?? K.full.per_channel.default,
      targetDevice: choice(FULL, 'target_device', K.full.target_device.values) ?? K.full.target_device.unsetMeans,
    },
    dataPreprocess: resolveDataPreprocess(),
    warnings,
  }

  function resolveDataPreprocess(): DataPreprocessConfig | null {
    const header = raw.sections.find((s) => s.name === DATA)
    const path = slot(DATA, 'calibrate_path')?.value
    const calibratePath: CalibrationSource[] | undefined = path?.type === 'calibrate-path' ? path.value : undefined
    const calibrateSize = int(DATA, 'calibrate_size')
    const inputType = choice(DATA, 'input_type', K.data.input_type.values)
    const mean = vector('normalize_mean')
    const std = vector('normalize_std')

    const stdSlot = slot(DATA, 'normalize_std')
    const meanLine = slot(DATA, 'normalize_mean')?.entry.line
    if (mean && std && stdSlot && mean.length !== std.length) {
      rejectValue(
        stdSlot.entry,
        { source },
        `has ${std.length} values but normalize_mean${meanLine ? ` (line ${meanLine})` : ''} has ${mean.length}`,
        `as many values as normalize_mean (${mean.length})`,
      )
    }

    if (quantType === 'FULL_QUANT') {
      const line = header?.line ?? quantTypeEntry?.line ?? null
      const need = (key: string): string => `quant_type=FULL_QUANT needs ${key} in [${DATA}]`
      if (!calibratePath) return missing(DATA, 'calibrate_path', line, `${need('calibrate_path')} (calibration data)`)
      if (calibrateSize === undefined) return missing(DATA, 'calibrate_size', line, need('calibrate_size'))
      if (!inputType) return missing(DATA, 'input_type', line, need('input_type'))
    }

    if (!calibratePath || calibrateSize === undefined || !inputType) {
      const present = [...slots.values()].some((s) => s.entry.section === DATA)
      if (present) {
        const absent = ['calibrate_path', 'calibrate_size', 'input_type'].filter((key) => !slot(DATA, key))
        warn(header?.line ?? null, null, `[${DATA}] is ignored: it needs ${absent.join(', ')} as well`)
      }
      return null
    }

    const image = inputType === 'IMAGE'
    if (!image) {
      for (const s of slots.values()) {
        const spec = keySpec(s.entry.section, s.entry.key)
        if (s.entry.section === DATA && spec?.imageOnly) {
          warn(s.entry.line, s.entry.key, `${s.entry.key} is ignored because input_type=BIN; it applies to IMAGE input only`)
        }
      }
    }
    const imageOnly = <T>(value: T | undefined): T | null => (image && value !== undefined ? value : null)
    return {
      calibratePath,
      calibrateSize,
      inputType,
      imageToFormat: imageOnly(choice(DATA, 'image_to_format', K.data.image_to_format.values)),
      normalizeMean: imageOnly(mean),
      normalizeStd: imageOnly(std),
      resizeWidth: imageOnly(int(DATA, 'resize_width')),
      resizeHeight: imageOnly(int(DATA, 'resize_height')),
      resizeMethod:
        (image ? choice(DATA, 'resize_method', K.data.resize_method.values) : undefined) ?? K.data.resize_method.default,
      centerCropWidth: imageOnly(int(DATA, 'center_crop_width')),
      centerCropHeight: imageOnly(int(DATA, 'center_crop_height')),
    }
  }
}

function oneOf<T extends string>(values: readonly T[], value: string): T | undefined {
  return values.find((v) => v === value)
}

// `normalize_mean[]=...` is how ini spells arrays; this format has none, and silently
// treating it as an unknown key would drop a value the user clearly meant to set.
function rejectArraySyntax(entry: RawEntry, source: string): void {
  if (!entry.key.endsWith('[]')) return
  const base = entry.key.slice(0, -2)
  const home = sectionsOfKey(base)[0]
  const spec = home ? keySpec(home, base) : undefined
  if (!spec) return
  rejectValue(entry, { source }, 'uses ini array syntax, which this format does not have', `${base}=${describeAllowed(spec)}`)
}

function unknownSectionMessage(name: string): string {
  const guess = nearestName(name, sectionNames())
  return guess
    ? `unknown section [${name}]; did you mean [${guess}]? Its keys are ignored`
    : `unknown section [${name}] is ignored; known sections: ${sectionNames().join(', ')}`
}

function unknownKeyMessage(key: string, section: string): string {
  const own = Object.keys(sectionSpec(section)?.keys ?? {})
  const guess = nearestName(key, own)
  if (guess) return `unknown key '${key}' in [${section}]; did you mean '${guess}'?`
  const elsewhere = nearestName(key, allKeyNames())
  if (elsewhere) {
    return `unknown key '${key}' in [${section}]; did you mean '${elsewhere}' (in [${sectionsOfKey(elsewhere).join('], [')}])?`
  }
  return `unknown key '${key}' in [${section}] is ignored; known keys there: ${own.join(', ')}`
}

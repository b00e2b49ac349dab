import { CfgError, location } from './cfg-error.js'
import { classifyEntries, type Warn } from './classify-entries.js'
import { coerceValue, showValue } from './coerce-value.js'
import { nearestName } from './nearest-name.js'
import type { RawCfg } from './raw-cfg.js'
import { resolveDataPreprocess } from './resolve-data-preprocess.js'
import { CFG_SCHEMA, describeAllowed, EXTENSION_SCHEMA, keySpec, sectionsOfKey, type CfgSectionName } from './schema.js'
import { oneOf, Slots } from './slots.js'
import type { CfgDiagnostic, QuantConfig } from './types.js'

const COMMON = 'common_quant_param'
const MIXED = 'mixed_bit_weight_quant_param'
const FULL = 'full_quant_param'
const GUARD = 'accuracy_guard'
const K = {
  common: CFG_SCHEMA.common_quant_param.keys,
  mixed: CFG_SCHEMA.mixed_bit_weight_quant_param.keys,
  full: CFG_SCHEMA.full_quant_param.keys,
  guard: EXTENSION_SCHEMA.accuracy_guard.keys,
}

/** How a cfg is resolved beyond its own text. */
export interface ResolveCfgOptions {
  /**
   * The caller brings its own input samples (quantizeModel's `samples`), so FULL_QUANT does not
   * need [data_preprocess_param]'s calibration folder. @default false
   */
  samplesGiven?: boolean
}

/** Validates a scanned or object cfg and fills in defaults. Throws a CfgError for the first error. */
export function resolveCfg(raw: RawCfg, options: ResolveCfgOptions = {}): QuantConfig {
  const { source, baseDir } = raw
  const warnings: CfgDiagnostic[] = []
  const warn: Warn = (line, key, text) => {
    warnings.push({ file: source, line, key, message: `${location(source, line)}${text}` })
  }
  const { accepted, strays } = classifyEntries(raw, warn)

  const missing = (section: CfgSectionName, key: string, line: number | null, need: string): never => {
    const spec = keySpec(section, key)
    const allowed = spec ? describeAllowed(spec) : null
    const stray = strays.get(key)
    // a misspelt or upper-case key is what the user wrote for it: point at that line
    // (a key of the format in another section is a stray of its own, not a misspelling of this one)
    const typo = stray ? undefined : raw.entries.find((e) => sectionsOfKey(e.key).length === 0 && nearestName(e.key, [key]) === key)
    const where = stray
      ? ` (${stray.line === null ? 'it is set' : `line ${stray.line} sets it`} in [${stray.section}], where it is ignored)`
      : typo ? ` ('${typo.key}'${typo.line === null ? '' : ` on line ${typo.line}`} is not a key of the format; did you mean '${key}'?)` : ''
    const at = typo?.line ?? line
    const message = `${location(source, at)}${need}${where}${allowed ? `; allowed: ${allowed}` : ''}`
    throw new CfgError(message, { file: source, line: at, key, allowed })
  }

  // quant_type first: the allowed range of bit_num depends on it.
  const quantTypeEntry = accepted.find((e) => e.section === COMMON && e.key === 'quant_type')
  if (!quantTypeEntry) return missing(COMMON, 'quant_type', null, `missing quant_type in [${COMMON}]`)
  const coercedType = coerceValue(K.common.quant_type, quantTypeEntry, { source, baseDir, quantType: null })
  const quantType = coercedType.type === 'enum' ? oneOf(K.common.quant_type.values, coercedType.value) : undefined
  if (!quantType) throw new Error(`internal: quant_type coerced to ${JSON.stringify(coercedType)}`)

  const slots = new Slots(accepted, { source, baseDir, quantType })

  // The format pins both thresholds to 0 in DYNAMIC_QUANT mode, and says they "are only valid
  // for weight quantization": MindSpore's full quantizer plans with 0 and 0 as well. Only a
  // non-zero value the user wrote is worth a note (in an object cfg, one other than the default:
  // it has no lines to tell written from filled-in values).
  let minQuantWeightSize = slots.int(COMMON, 'min_quant_weight_size') ?? K.common.min_quant_weight_size.default
  let minQuantWeightChannel = slots.int(COMMON, 'min_quant_weight_channel') ?? K.common.min_quant_weight_channel.default
  if (quantType === 'DYNAMIC_QUANT' || quantType === 'FULL_QUANT') {
    for (const key of ['min_quant_weight_size', 'min_quant_weight_channel'] as const) {
      const set = slots.get(COMMON, key)
      if (!set || set.value.value === 0) continue
      if (quantType === 'DYNAMIC_QUANT') warn(set.entry.line, key, `note: ${key}=${showValue(set.entry.value)} is ignored; DYNAMIC_QUANT always uses 0`)
      else if (set.entry.line !== null || set.value.value !== K.common[key].default) {
        warn(set.entry.line, key, `note: ${key}=${showValue(set.entry.value)} is ignored; it applies to WEIGHT_QUANT only, FULL_QUANT quantizes weights of every size (keep a node float with skip_quant_node)`)
      }
    }
    minQuantWeightSize = 0
    minQuantWeightChannel = 0
  }

  // A section the mode never reads: each key set in it is ignored, and the user is told (as
  // MindSpore ignores it too), so that a cfg's settings never vanish in silence.
  const bitNum = slots.int(COMMON, 'bit_num') ?? K.common.bit_num.default
  const unused: [CfgSectionName, string][] = []
  if (quantType !== 'WEIGHT_QUANT' || bitNum !== 0) unused.push([MIXED, 'WEIGHT_QUANT with bit_num=0 (mixed bit) only'])
  if (quantType !== 'FULL_QUANT') unused.push([FULL, 'FULL_QUANT only'])
  for (const [section, only] of unused) {
    for (const e of accepted.filter((x) => x.section === section)) warn(e.line, e.key, `note: ${e.key}=${showValue(e.value)} is ignored; [${section}] applies to ${only}`)
  }
  // auto_tune picks init_scale itself (the format: it "searches for init_scale"), so a written
  // one would seem to count while it does not, except where auto_tune cannot run (mixed-bit.ts)
  const autoTune = slots.bool(MIXED, 'auto_tune') ?? K.mixed.auto_tune.default
  const initScaleSet = slots.get(MIXED, 'init_scale')
  if (quantType === 'WEIGHT_QUANT' && bitNum === 0 && autoTune && initScaleSet && (initScaleSet.entry.line !== null || initScaleSet.value.value !== K.mixed.init_scale.default)) {
    warn(initScaleSet.entry.line, 'init_scale', `note: init_scale=${showValue(initScaleSet.entry.value)} is used only where auto_tune cannot run (a model with external data); auto_tune=true searches init_scale itself`)
  }

  const dataHeader = raw.sections.find((s) => s.name === 'data_preprocess_param')
  const dataPreprocess = resolveDataPreprocess({
    source,
    quantType,
    slots,
    headerLine: dataHeader?.line ?? null,
    warn,
    // Point at the section header if there is one, else at the quant_type that asked for it.
    missing: (key, need) => missing('data_preprocess_param', key, dataHeader?.line ?? quantTypeEntry.line, need),
    samplesGiven: options.samplesGiven ?? false,
  })

  return {
    source,
    quantType,
    bitNum,
    minQuantWeightSize,
    minQuantWeightChannel,
    skipQuantNode: slots.list(COMMON, 'skip_quant_node') ?? [...K.common.skip_quant_node.default],
    debugInfoSavePath: slots.path(COMMON, 'debug_info_save_path') ?? K.common.debug_info_save_path.default,
    mixedBit: {
      initScale: slots.float(MIXED, 'init_scale') ?? K.mixed.init_scale.default,
      autoTune,
    },
    fullQuant: {
      activationQuantMethod:
        slots.choice(FULL, 'activation_quant_method', K.full.activation_quant_method.values) ??
        K.full.activation_quant_method.default,
      biasCorrection: slots.bool(FULL, 'bias_correction') ?? K.full.bias_correction.default,
      perChannel: slots.bool(FULL, 'per_channel') ?? K.full.per_channel.default,
      targetDevice: slots.choice(FULL, 'target_device', K.full.target_device.values) ?? K.full.target_device.unsetMeans,
    },
    dataPreprocess,
    // our extension: present only when the cfg opens the section, so plain cfgs parse as before
    ...(raw.sections.some((s) => s.name === GUARD) ? {
      accuracyGuard: {
        minCosine: slots.float(GUARD, 'min_cosine') ?? K.guard.min_cosine.default,
        autoSkip: slots.bool(GUARD, 'auto_skip') ?? K.guard.auto_skip.default,
        maxSkippedNodes: slots.int(GUARD, 'max_skipped_nodes') ?? K.guard.max_skipped_nodes.default,
      },
    } : {}),
    keyLines: Object.fromEntries(accepted.flatMap((e) => (e.line === null ? [] : [[e.key, e.line]]))),
    warnings,
  }
}

/** `model.cfg:4` where the cfg file set `key` on line 4, else the cfg's name: for errors found after parsing. */
export function keyLocation(cfg: Pick<QuantConfig, 'source' | 'keyLines'>, key: string): string {
  const line = cfg.keyLines[key]
  return line === undefined ? cfg.source : `${cfg.source}:${line}`
}

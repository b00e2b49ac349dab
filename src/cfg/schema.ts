import type { QuantType } from './types.js'

/** Who has to set a key: every cfg, only FULL_QUANT cfgs (calibration data), or nobody. */
export type CfgRequirement = 'always' | 'FULL_QUANT' | 'optional'

interface KeySpecBase {
  readonly description: string
  readonly required: CfgRequirement
  /** Applies to input_type=IMAGE only; with BIN it is ignored and warned about. */
  readonly imageOnly?: boolean
}

export interface EnumKeySpec extends KeySpecBase {
  readonly type: 'enum'
  readonly values: readonly string[]
  /** Spellings the format's own docs use, accepted and normalised to the canonical value. */
  readonly aliases?: Readonly<Record<string, string>>
  readonly default: string | null
  /** What leaving the key unset means, when that is not one of `values`. */
  readonly unsetMeans?: string
}

export interface IntKeySpec extends KeySpecBase {
  readonly type: 'int'
  readonly min: number
  readonly max: number
  readonly default: number | null
  /** Narrower ranges per quant_type; `min`/`max` is their union. */
  readonly byQuantType?: Readonly<Record<QuantType, readonly [number, number]>>
}

export interface FloatKeySpec extends KeySpecBase {
  readonly type: 'float'
  readonly min: number
  readonly max: number
  /** Both ends excluded: init_scale is meaningless at exactly 0 or 1. */
  readonly open: boolean
  readonly default: number
}

export interface BoolKeySpec extends KeySpecBase {
  readonly type: 'bool'
  readonly default: boolean
}

/** Comma-separated names. */
export interface ListKeySpec extends KeySpecBase {
  readonly type: 'list'
  readonly default: readonly string[]
}

/** A folder, resolved against the cfg file's folder. */
export interface PathKeySpec extends KeySpecBase {
  readonly type: 'path'
  readonly default: null
}

/** `input_name:dir,input_name:dir` or a bare dir. */
export interface CalibratePathKeySpec extends KeySpecBase {
  readonly type: 'calibrate-path'
  readonly default: null
}

/** `[a, b, c]` or `[a]`. */
export interface VectorKeySpec extends KeySpecBase {
  readonly type: 'vector'
  readonly lengths: readonly number[]
  readonly nonZero: boolean
  readonly default: null
}

export type CfgKeySpec =
  | EnumKeySpec
  | IntKeySpec
  | FloatKeySpec
  | BoolKeySpec
  | ListKeySpec
  | PathKeySpec
  | CalibratePathKeySpec
  | VectorKeySpec

export interface CfgSectionSpec {
  readonly description: string
  readonly keys: Readonly<Record<string, CfgKeySpec>>
}

const SIZE_RANGE = { min: 0, max: 65535 } as const
const IMAGE_DIM = { type: 'int', min: 1, max: 65535, default: null, required: 'optional', imageOnly: true } as const

/**
 * Every section and key of the MindSpore Lite post-training-quantization cfg, in the order the
 * format documents them. Validation and defaults come from here; the README's cfg table is
 * written by hand and held to this by test/readme-cfg-table.test.ts.
 */
export const CFG_SCHEMA = {
  common_quant_param: {
    description: 'Common quantization parameters.',
    keys: {
      quant_type: {
        type: 'enum',
        values: ['WEIGHT_QUANT', 'FULL_QUANT', 'DYNAMIC_QUANT'],
        default: null,
        required: 'always',
        description:
          'WEIGHT_QUANT quantizes weights only; FULL_QUANT quantizes weights and activations (needs calibration data); DYNAMIC_QUANT quantizes weights and computes activation ranges at run time.',
      },
      bit_num: {
        type: 'int',
        min: 0,
        max: 16,
        byQuantType: { WEIGHT_QUANT: [0, 16], FULL_QUANT: [8, 8], DYNAMIC_QUANT: [8, 8] },
        default: 8,
        required: 'optional',
        description: 'Bits per quantized value. With WEIGHT_QUANT, 0 selects mixed-bit quantization.',
      },
      min_quant_weight_size: {
        type: 'int',
        ...SIZE_RANGE,
        default: 0,
        required: 'optional',
        description: 'Weights with more elements than this are quantized. Forced to 0 for DYNAMIC_QUANT.',
      },
      min_quant_weight_channel: {
        type: 'int',
        ...SIZE_RANGE,
        default: 16,
        required: 'optional',
        description: 'Weights with more channels than this are quantized. Forced to 0 for DYNAMIC_QUANT.',
      },
      skip_quant_node: {
        type: 'list',
        default: [],
        required: 'optional',
        description: 'Comma-separated names of nodes to leave unquantized.',
      },
      debug_info_save_path: {
        type: 'path',
        default: null,
        required: 'optional',
        description: 'Folder for quantization debug reports; relative to the cfg file.',
      },
    },
  },
  mixed_bit_weight_quant_param: {
    description: 'Mixed-bit weight quantization (WEIGHT_QUANT with bit_num=0).',
    keys: {
      init_scale: {
        type: 'float',
        min: 0,
        max: 1,
        open: true,
        default: 0.02,
        required: 'optional',
        description: 'Initial scale; larger compresses more and loses more accuracy.',
      },
      auto_tune: {
        type: 'bool',
        default: false,
        required: 'optional',
        description: 'Search init_scale automatically for an output cosine similarity around 0.995.',
      },
    },
  },
  full_quant_param: {
    description: 'Full quantization parameters.',
    keys: {
      activation_quant_method: {
        type: 'enum',
        values: ['MAX_MIN', 'KL', 'REMOVAL_OUTLIER'],
        aliases: { RemovalOutlier: 'REMOVAL_OUTLIER' },
        default: 'MAX_MIN',
        required: 'optional',
        description: 'How activation ranges are calibrated.',
      },
      bias_correction: {
        type: 'bool',
        default: true,
        required: 'optional',
        description: 'Correct the quantization error of biases.',
      },
      per_channel: {
        type: 'bool',
        default: true,
        required: 'optional',
        description: 'Per-channel (true) or per-layer (false) weight quantization.',
      },
      target_device: {
        type: 'enum',
        values: ['NVGPU', 'DSP'],
        default: null,
        unsetMeans: 'CPU',
        required: 'optional',
        description: 'Hardware backend the quantized model targets; unset means CPU.',
      },
    },
  },
  data_preprocess_param: {
    description: 'Calibration data and its preprocessing (required for FULL_QUANT).',
    keys: {
      calibrate_path: {
        type: 'calibrate-path',
        default: null,
        required: 'FULL_QUANT',
        description: 'Calibration data folders, one per model input; relative to the cfg file.',
      },
      calibrate_size: {
        type: 'int',
        min: 1,
        max: 65535,
        default: null,
        required: 'FULL_QUANT',
        description: 'Number of calibration samples to use.',
      },
      input_type: {
        type: 'enum',
        values: ['IMAGE', 'BIN'],
        default: null,
        required: 'FULL_QUANT',
        description: 'IMAGE reads image files; BIN reads raw .bin input buffers.',
      },
      image_to_format: {
        type: 'enum',
        values: ['RGB', 'GRAY', 'BGR'],
        default: null,
        required: 'optional',
        imageOnly: true,
        description: 'Channel format images are converted to.',
      },
      normalize_mean: {
        type: 'vector',
        lengths: [3, 1],
        nonZero: false,
        default: null,
        required: 'optional',
        imageOnly: true,
        description: 'Per-channel mean; dst = (src - mean) / std.',
      },
      normalize_std: {
        type: 'vector',
        lengths: [3, 1],
        nonZero: true,
        default: null,
        required: 'optional',
        imageOnly: true,
        description: 'Per-channel standard deviation; dst = (src - mean) / std.',
      },
      resize_width: { ...IMAGE_DIM, description: 'Resize width in pixels.' },
      resize_height: { ...IMAGE_DIM, description: 'Resize height in pixels.' },
      resize_method: {
        type: 'enum',
        values: ['LINEAR', 'NEAREST', 'CUBIC'],
        // The format's own docs misspell NEAREST this way, so real cfgs contain it.
        aliases: { NEARST: 'NEAREST' },
        default: 'LINEAR',
        required: 'optional',
        imageOnly: true,
        description: 'Resize interpolation.',
      },
      center_crop_width: { ...IMAGE_DIM, description: 'Center crop width in pixels.' },
      center_crop_height: { ...IMAGE_DIM, description: 'Center crop height in pixels.' },
    },
  },
} as const satisfies Readonly<Record<string, CfgSectionSpec>>

/**
 * Sections this package adds to the format (documented as extensions in the README). Kept apart
 * from CFG_SCHEMA, which lists exactly the format's own sections, and parsed the same way.
 */
export const EXTENSION_SCHEMA = {
  accuracy_guard: {
    description: 'Our extension: the output cosine the quantized model must keep, and what to do when it does not.',
    keys: {
      min_cosine: {
        type: 'float',
        min: 0,
        max: 1,
        open: false,
        default: 0.99,
        required: 'optional',
        description: 'Output cosine vs fp32 the quantized model must reach on held-out calibration samples.',
      },
      auto_skip: {
        type: 'bool',
        default: true,
        required: 'optional',
        description: 'Below min_cosine, return the most sensitive nodes to float until the target is met.',
      },
      max_skipped_nodes: {
        type: 'int',
        min: 0,
        max: 65535,
        default: 10,
        required: 'optional',
        description: 'At most this many nodes are returned to float before the build fails.',
      },
    },
  },
} as const satisfies Readonly<Record<string, CfgSectionSpec>>

export type CfgSectionName = keyof typeof CFG_SCHEMA | keyof typeof EXTENSION_SCHEMA

// Maps rather than property lookups on CFG_SCHEMA, so names like `constructor` or
// `__proto__` in a user's file can never hit Object.prototype.
const SECTIONS: ReadonlyMap<string, CfgSectionSpec> = new Map<string, CfgSectionSpec>([
  ...Object.entries<CfgSectionSpec>(CFG_SCHEMA),
  ...Object.entries<CfgSectionSpec>(EXTENSION_SCHEMA),
])
const KEY_HOMES: ReadonlyMap<string, string[]> = (() => {
  const homes = new Map<string, string[]>()
  for (const [section, spec] of SECTIONS) {
    for (const key of Object.keys(spec.keys)) homes.set(key, [...(homes.get(key) ?? []), section])
  }
  return homes
})()

export function sectionNames(): string[] {
  return [...SECTIONS.keys()]
}

export function sectionSpec(section: string): CfgSectionSpec | undefined {
  return SECTIONS.get(section)
}

export function keySpec(section: string, key: string): CfgKeySpec | undefined {
  const keys = SECTIONS.get(section)?.keys
  return keys && Object.hasOwn(keys, key) ? keys[key] : undefined
}

/** Sections that define `key`; empty for unknown keys. */
export function sectionsOfKey(key: string): string[] {
  return KEY_HOMES.get(key) ?? []
}

export function allKeyNames(): string[] {
  return [...KEY_HOMES.keys()]
}

/**
 * The "allowed" text used in error messages. Given a quant_type,
 * bit_num narrows to that type's range (FULL_QUANT: "8").
 */
export function describeAllowed(spec: CfgKeySpec, quantType?: QuantType): string {
  switch (spec.type) {
    case 'enum':
      return spec.values.join(', ') + (spec.unsetMeans ? ` (leave unset for ${spec.unsetMeans})` : '')
    case 'int': {
      if (spec.byQuantType && quantType) {
        const [min, max] = spec.byQuantType[quantType]
        return min === max ? String(min) : `an integer in [${min}, ${max}]`
      }
      if (spec.byQuantType) {
        return Object.entries(spec.byQuantType)
          .map(([type, [min, max]]) => `${type}: ${min === max ? min : `[${min}, ${max}]`}`)
          .join('; ')
      }
      return `an integer in [${spec.min}, ${spec.max}]`
    }
    case 'float':
      return spec.open ? `a number in (${spec.min}, ${spec.max})` : `a number in [${spec.min}, ${spec.max}]`
    case 'bool':
      return 'true, false, 1, 0 (case-insensitive)'
    case 'list':
      return 'comma-separated node names'
    case 'path':
      return 'a folder path (relative paths are relative to the cfg file)'
    case 'calibrate-path':
      return 'input_name:dir[,input_name:dir...], or a single dir for a single-input model'
    case 'vector':
      return `[a, b, c] or [a]${spec.nonZero ? ' with no zero entries' : ''}`
  }
}

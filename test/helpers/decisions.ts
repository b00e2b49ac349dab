// What users decide from a model's output, to check that a quantized model decides as fp32 does.
import type ort from 'onnxruntime-node'
import { numericData } from '../../src/runtime/numeric-data.js'
import { greedyCtc, loadOcrKeys } from './ctc-decode.js'

/** PP-OCR det's binarization threshold (db_thresh): a pixel is text above it. */
export const DET_THRESHOLD = 0.3
/** silero's speech threshold and openWakeWord's detection threshold, both libraries' defaults. */
export const SCORE_THRESHOLD = 0.5

/** Index of the largest value (the first of equals). */
export function argmax(data: ArrayLike<number>): number {
  let best = 0
  for (let i = 1; i < data.length; i++) if (data[i]! > data[best]!) best = i
  return best
}

/** Intersection over union of the pixels above DET_THRESHOLD (1 when neither has any). */
function maskIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let both = 0
  let either = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! > DET_THRESHOLD
    const y = b[i]! > DET_THRESHOLD
    if (x && y) both++
    if (x || y) either++
  }
  return either === 0 ? 1 : both / either
}

/** A comparison of one output of fp32 (`ref`) and of the quantized model (`got`) on one input: 1 when they decide alike, 0 when not, or a share between. */
export type DecisionAgreement = (ref: ort.Tensor, got: ort.Tensor) => number

const floats = numericData
let keys: string[] | null = null

/** PP-OCR rec: the same greedy-CTC text. */
export const sameText: DecisionAgreement = (a, b) => {
  keys ??= loadOcrKeys()
  return Number(greedyCtc(a, keys) === greedyCtc(b, keys))
}
/** A classifier (PP-OCR cls): the same class. */
export const sameClass: DecisionAgreement = (a, b) => Number(argmax(floats(a)) === argmax(floats(b)))
/** A score (silero's speech probability, a wake word's score): the same side of SCORE_THRESHOLD. */
export const sameDecision: DecisionAgreement = (a, b) => Number((floats(a)[0]! >= SCORE_THRESHOLD) === (floats(b)[0]! >= SCORE_THRESHOLD))
/** PP-OCR det: the IoU of the text masks (pixels over DET_THRESHOLD). */
export const textMaskIou: DecisionAgreement = (a, b) => maskIou(floats(a), floats(b))

// What a user decides from each model's output, and how often the quantized model decides the
// same as fp32: cosine says how close the numbers are, this what the closeness is worth. On 64
// word crops PP-OCRv4 rec at 8 bit read 0.99962 (one crop 0.982), and every crop but two decoded
// to the same text, the two only by a trailing space.
import type ort from 'onnxruntime-node'
import { decodeModelProto } from '../src/onnx/codec.js'
import { DET_THRESHOLD, sameClass, sameDecision, sameText, SCORE_THRESHOLD, textMaskIou, type DecisionAgreement } from '../test/helpers/decisions.js'
import type { InputKind } from './models.js'

type Outputs = ort.InferenceSession.OnnxValueMapType

export interface Agreement {
  /** what is compared, for the table: "same text", "text-mask IoU" */
  what: string
  /** per sample: 1 when the decision is the same, 0 when not; det: the IoU of the text masks */
  score: (ref: Outputs, got: Outputs) => number
  /** counted (`n / N` in the table) or averaged */
  counted: boolean
}

/** How a model of `kind` with outputs `names` is judged (its first output carries the decision). */
export function agreementFor(kind: InputKind, names: readonly string[]): Agreement {
  const on = (agree: DecisionAgreement) => (r: Outputs, g: Outputs) => agree(r[names[0]!]!, g[names[0]!]!)
  switch (kind) {
    case 'ocr-rec': return { what: 'same text', counted: true, score: on(sameText) }
    case 'ocr-cls': return { what: 'same class', counted: true, score: on(sameClass) }
    case 'ocr-det': return { what: `text-mask IoU (pixels > ${DET_THRESHOLD})`, counted: false, score: on(textMaskIou) }
    case 'silero':
    case 'generated': return { what: `same decision (≥ ${SCORE_THRESHOLD})`, counted: true, score: on(sameDecision) }
  }
}

/** The graph's output names, in the order onnxruntime lists them. */
export function outputNames(model: Uint8Array): string[] {
  return (decodeModelProto(model).graph?.output ?? []).map((o) => o.name ?? '')
}

/** `agreed` (summed scores over `samples`) as the table shows it: "62/64 same text", "text-mask IoU (pixels > 0.3) 0.9981". */
export function agreementText(a: Agreement, agreed: number, samples: number): string {
  return a.counted ? `${Math.round(agreed)}/${samples} ${a.what}` : `${a.what} ${(agreed / samples).toFixed(4)}`
}

// What a user decides from each model's output, and how often the quantized model decides the
// same as fp32: cosine says how close the numbers are, this what the closeness is worth. On 64
// word crops PP-OCRv4 rec at 8 bit read 0.99962 (one crop 0.982), and every crop but two decoded
// to the same text, the two only by a trailing space.
import { DET_THRESHOLD, sameClass, sameDecision, sameText, SCORE_THRESHOLD, textMaskIou, type DecisionAgreement } from '../test/helpers/decisions.js'
import type { InputKind } from './models.js'

export interface Agreement {
  /** what is compared, for the table: "same text", "text-mask IoU" */
  what: string
  /** per sample, on the first output (the one carrying the decision): 1 when the decision is the same, 0 when not; det: the IoU of the text masks */
  score: DecisionAgreement
  /** counted (`n / N` in the table) or averaged */
  counted: boolean
}

/** How a model of `kind` is judged. */
export function agreementFor(kind: InputKind): Agreement {
  switch (kind) {
    case 'ocr-rec': return { what: 'same text', counted: true, score: sameText }
    case 'ocr-cls': return { what: 'same class', counted: true, score: sameClass }
    case 'ocr-det': return { what: `text-mask IoU (pixels > ${DET_THRESHOLD})`, counted: false, score: textMaskIou }
    case 'silero':
    case 'generated': return { what: `same decision (≥ ${SCORE_THRESHOLD})`, counted: true, score: sameDecision }
  }
}

/** `agreed` (summed scores over `samples`) as the table shows it: "62/64 same text", "text-mask IoU (pixels > 0.3) 0.9981". */
export function agreementText(a: Agreement, agreed: number, samples: number): string {
  return a.counted ? `${Math.round(agreed)}/${samples} ${a.what}` : `${a.what} ${(agreed / samples).toFixed(4)}`
}

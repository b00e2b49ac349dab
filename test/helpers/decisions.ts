// What users decide from a model's output, to check that a quantized model decides as fp32 does
// (greedy CTC text: ctc-decode.ts).

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

/** Intersection over union of the pixels above `threshold` (1 when neither has any). */
export function maskIou(a: ArrayLike<number>, b: ArrayLike<number>, threshold = DET_THRESHOLD): number {
  let both = 0
  let either = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]! > threshold
    const y = b[i]! > threshold
    if (x && y) both++
    if (x || y) either++
  }
  return either === 0 ? 1 : both / either
}

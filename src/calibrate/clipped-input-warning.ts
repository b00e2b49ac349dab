import type { ClippedInput } from './activation-ranges.js'

const num = (x: number): string => String(Number(x.toPrecision(3)))

/** The warning for a graph input KL's range clips (activation-ranges.ts, INPUT_CLIP_WARN_SHARE). */
export function inputClippedWarning(c: ClippedInput): string {
  return `activation_quant_method=KL cut input '${c.tensor}' to [${num(c.min)}, ${num(c.max)}] where its calibration data reaches [${num(c.seenMin)}, ${num(c.seenMax)}]: `
    + `${num(c.share * 100)}% of its non-zero values lie outside and are clipped by the int8 model. KL's threshold suits activations with rare outliers, not data that sits at its extremes `
    + `(a page's white paper and dark strokes); MAX_MIN or REMOVAL_OUTLIER keep the data's range`
}

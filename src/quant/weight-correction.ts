import { halfScalePower, roundToHalf } from './half-scales.js'
import { axisLayout, type ChannelQuantized, type ChannelSums } from './per-channel.js'

/** How the file's integers turn back into floats: w = (q - zeroPoint) * scale, per channel. */
export interface DecodeParams {
  scale: Float32Array
  /** Float, so that the correction below can move it off the integer grid at no cost. */
  zeroPoint: Float32Array
  /** Per channel: the factor applied to the dequantized spread (the format's CorrectionVar). */
  correctionVar: Float32Array
  /** Per channel: the shift applied to the dequantized mean (the format's CorrectionMean). */
  correctionMean: Float32Array
  /** ||W - W_hat|| / ||W|| after correction. */
  relativeError: number
}

/**
 * Per-channel mean and variance correction of dequantized weights (the format's CorrectionVar /
 * CorrectionMean): rounding shifts each channel's mean and shrinks or widens its spread, errors
 * that add up coherently through the next layers. Matching both moments to the float weights is
 * an affine map per channel, a*w_hat + b, which folds exactly into the decode parameters:
 * scale' = a*scale and zeroPoint' = zeroPoint + (a*mean_hat - mean)/(a*scale). Measured on
 * PP-OCRv4 det at 8 bit (rendered text pages): output cosine 0.99828 without, 0.99917 with.
 * Everything follows from the per-channel sums gathered while quantizing, with no extra pass.
 */
export function correctedDecodeParams(q: ChannelQuantized, sums: ChannelSums): DecodeParams {
  const channels = q.scale.length
  const scale = new Float32Array(channels)
  const zeroPoint = new Float32Array(channels)
  const correctionVar = new Float32Array(channels)
  const correctionMean = new Float32Array(channels)
  const n = sums.n
  const meanW = (c: number) => sums.sumW[c]! / n
  const meanQ = (c: number) => sums.sumQ[c]! / n
  for (let c = 0; c < channels; c++) {
    const s = q.scale[c]!
    const varW = Math.max(0, sums.sumW2[c]! / n - meanW(c) ** 2)
    const varD = s * s * Math.max(0, sums.sumQ2[c]! / n - meanQ(c) ** 2)
    // A channel too small or too flat to estimate a spread keeps its plain decode.
    let a = varD > 0 && varW > 0 && n > 1 ? Math.sqrt(varW / varD) : 1
    if (!(a > 0.5 && a < 2)) a = 1
    scale[c] = Math.fround(a * s)
  }
  // Up to 8 bits the file stores the scales as float16 (see src/quant/half-scales.ts).
  const power = q.bits <= HALF_SCALE_MAX_BITS ? halfScalePower(scale) : null
  let err = 0
  let norm = 0
  for (let c = 0; c < channels; c++) {
    const s2 = power === null ? scale[c]! : roundToHalf(scale[c]!, power)
    // the decoded mean s2 * (meanQ - z2) is the float mean; a scale that float16 flushed to zero
    // (a channel far below its tensor's largest, see half-scales.ts) decodes to zero
    const z2 = s2 > 0 ? Math.fround(meanQ(c) - meanW(c) / s2) : 0
    scale[c] = s2
    zeroPoint[c] = z2
    const plain = q.scale[c]!
    // a range below float32's resolution has a zero plain step: report no correction there
    correctionVar[c] = plain > 0 ? s2 / plain : 1
    correctionMean[c] = meanW(c) - s2 * (meanQ(c) - q.zeroPoint[c]!)
    const sw = sums.sumW[c]!
    const sq = sums.sumQ[c]!
    // sum (w - s2 (q - z2))^2, expanded over the sums
    const e = sums.sumW2[c]! - 2 * s2 * (sums.sumWQ[c]! - z2 * sw) + s2 * s2 * (sums.sumQ2[c]! - 2 * z2 * sq + n * z2 * z2)
    err += Math.max(0, e)
    norm += sums.sumW2[c]!
  }
  return { scale, zeroPoint, correctionVar, correctionMean, relativeError: norm > 0 ? Math.sqrt(err / norm) : 0 }
}

/**
 * The widest codes whose scales are stored as float16. A float16 scale is within 2^-11 of its
 * value; with the zero point re-derived to keep the channel mean, that moves an 8-bit weight by
 * (q - mean q) * 2^-11 steps, at most 1/8 of a code step against the rounding's half step, and
 * halves what the scales cost, as they do not compress (PP-OCRv4 det: 15 KB of 1.35 MB). Held
 * out, plain 8 bit: det 0.999203 vs 0.999197, rec 0.997917 vs 0.998046.
 * Wider codes keep float32 scales: their finer steps would feel it (at 12 bit the float16 error
 * would be about a fifth of the rounding noise power).
 */
export const HALF_SCALE_MAX_BITS = 8

/** The floats the ONNX graph computes from the codes: f32(f32(q) - zp) * scale, like Cast/Sub/Mul. */
export function decodeWeights(codes: Int8Array | Int16Array, params: DecodeParams, dims: readonly number[], axis: number): Float32Array {
  const { outer, channels, inner } = axisLayout(dims, axis)
  const out = new Float32Array(codes.length)
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner
      const s = params.scale[c]!
      const z = params.zeroPoint[c]!
      for (let i = 0; i < inner; i++) out[base + i] = Math.fround(Math.fround(codes[base + i]! - z) * s)
    }
  }
  return out
}

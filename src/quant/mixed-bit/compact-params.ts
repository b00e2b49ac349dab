import { floatToHalf, halfToFloat } from '../../onnx/float16.js'
import { halfScalePower } from '../half-scales.js'
import { axisLayout, type ChannelQuantized, type ChannelSums } from '../per-channel.js'
import { decodeWeights, type DecodeParams } from '../weight-correction.js'

/**
 * Decode parameters whose per-channel scales and zero points are float16 values (held in the
 * Float32Arrays of `params`, so decodeWeights gives exactly what the graph computes), plus the
 * bits the file stores.
 */
export interface CompactParams {
  params: DecodeParams
  /** float16 bits of scale / power, one per channel. */
  scale16: Uint16Array
  /** The power of two the float16 scales are multiplied by (1: none needed). */
  power: number
  /** float16 bits of the zero points; null when every zero point is 0. */
  zeroPoint16: Uint16Array | null
}

/**
 * Zero points are rounded to 1/256 of a code before float16: the mean they correct is typically
 * 0.02 codes, a 1/512 error leaves it 0.3% of the rounding noise (0.29 codes RMS), and the
 * float16 patterns, now mostly alike, compress: zero points 31 KB to 15 KB under brotli on
 * PP-OCRv4 rec, 14 KB to 7 KB on det.
 */
const ZERO_POINT_GRID = 256

/**
 * Round a weight's per-channel scales and zero points to float16. At init_scale 0.02 the codes
 * cost about 6 bits a weight, and the two float32 per-channel tensors do not compress at all:
 * 5% of PP-OCRv4 rec's brotli size. Float16 keeps 11 significant bits, so a scale in its normal
 * range moves by at most 2^-11 of itself, against the 2% error the step search allows. When
 * scales fall outside that range the tensor's share a power of two (an exact multiplication). The zero point is then re-derived
 * from the rounded scale so the channel mean still matches the float weights (the format's
 * CorrectionMean), on a grid of 1/256 code, and the relative error is measured again on the
 * decode as stored.
 */
export function compactParams(values: Float32Array, q: ChannelQuantized, sums: ChannelSums, params: DecodeParams, dims: readonly number[]): CompactParams {
  const channels = params.scale.length
  const power = halfScalePower(params.scale)
  const scale16 = new Uint16Array(channels)
  const zeroPoint16 = new Uint16Array(channels)
  const scale = new Float32Array(channels)
  const zeroPoint = new Float32Array(channels)
  const correctionVar = new Float32Array(channels)
  const correctionMean = new Float32Array(channels)
  let anyZero = false
  for (let c = 0; c < channels; c++) {
    const h = floatToHalf(params.scale[c]! / power)
    scale16[c] = h
    const s = Math.fround(halfToFloat(h) * power)
    scale[c] = s
    const meanW = sums.sumW[c]! / sums.n
    const meanQ = sums.sumQ[c]! / sums.n
    // decoded mean s * (meanQ - z) equals meanW; a channel whose scale rounded to 0 decodes to 0
    const z = s > 0 ? meanQ - meanW / s : 0
    const hz = floatToHalf(Math.round(z * ZERO_POINT_GRID) / ZERO_POINT_GRID)
    zeroPoint16[c] = hz
    zeroPoint[c] = halfToFloat(hz)
    if (zeroPoint[c] !== 0) anyZero = true
    const plain = q.scale[c]!
    correctionVar[c] = plain > 0 ? s / plain : 1
    correctionMean[c] = meanW - correctionVar[c]! * plain * (meanQ - q.zeroPoint[c]!)
  }
  const decoded = { scale, zeroPoint, correctionVar, correctionMean, relativeError: 0 }
  decoded.relativeError = relativeError(values, decodeWeights(q.codes, decoded, dims, q.axis))
  return { params: decoded, scale16, power, zeroPoint16: anyZero ? zeroPoint16 : null }
}

/** ||W - W_hat|| / ||W||. */
export function relativeError(values: Float32Array, decoded: Float32Array): number {
  let err = 0
  let norm = 0
  for (let i = 0; i < values.length; i++) {
    const d = values[i]! - decoded[i]!
    err += d * d
    norm += values[i]! * values[i]!
  }
  return norm > 0 ? Math.sqrt(err / norm) : 0
}

/** The per-channel sums the correction needs, from the float values and their codes. */
export function channelSums(values: Float32Array, codes: Int8Array | Int16Array, dims: readonly number[], axis: number): ChannelSums {
  const { outer, channels, inner } = axisLayout(dims, axis)
  const sums: ChannelSums = {
    n: outer * inner, sumW: new Float64Array(channels), sumW2: new Float64Array(channels),
    sumQ: new Float64Array(channels), sumQ2: new Float64Array(channels), sumWQ: new Float64Array(channels),
  }
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner
      for (let i = 0; i < inner; i++) {
        const v = values[base + i]!
        const k = codes[base + i]!
        sums.sumW[c]! += v
        sums.sumW2[c]! += v * v
        sums.sumQ[c]! += k
        sums.sumQ2[c]! += k * k
        sums.sumWQ[c]! += v * k
      }
    }
  }
  return sums
}

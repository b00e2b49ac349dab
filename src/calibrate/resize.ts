import type { ResizeMethod } from '../cfg/index.js'

/** Source taps and weights of one output coordinate along one axis. */
interface Taps {
  /** Taps per output coordinate (1 nearest, 2 linear, 4 cubic). */
  width: number
  index: Int32Array
  weight: Float32Array
}

// Cubic convolution with a = -0.75, the coefficient OpenCV's INTER_CUBIC uses.
const A = -0.75
function cubicWeights(t: number, out: Float32Array, at: number): void {
  const w0 = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A
  const w1 = ((A + 2) * t - (A + 3)) * t * t + 1
  const w2 = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1
  out[at] = w0
  out[at + 1] = w1
  out[at + 2] = w2
  out[at + 3] = 1 - w0 - w1 - w2
}

/**
 * The taps of each output coordinate, with OpenCV's `cv::resize` conventions (the calibration
 * preprocessing of the format is OpenCV's): LINEAR and CUBIC sample at pixel centres
 * (src = (dst + 0.5) * scale - 0.5) with edge pixels replicated; NEAREST takes floor(dst * scale).
 */
export function resizeTaps(src: number, dst: number, method: ResizeMethod): Taps {
  const scale = src / dst
  const clamp = (i: number): number => (i < 0 ? 0 : i >= src ? src - 1 : i)
  if (method === 'NEAREST') {
    const index = new Int32Array(dst)
    for (let d = 0; d < dst; d++) index[d] = Math.min(Math.floor(d * scale), src - 1)
    return { width: 1, index, weight: new Float32Array(dst).fill(1) }
  }
  if (method === 'LINEAR') {
    const index = new Int32Array(dst * 2)
    const weight = new Float32Array(dst * 2)
    for (let d = 0; d < dst; d++) {
      const f = (d + 0.5) * scale - 0.5
      let s = Math.floor(f)
      let t = f - s
      if (s < 0) { s = 0; t = 0 }
      if (s >= src - 1) { s = src - 1; t = 0 }
      index[2 * d] = s
      index[2 * d + 1] = clamp(s + 1)
      weight[2 * d] = 1 - t
      weight[2 * d + 1] = t
    }
    return { width: 2, index, weight }
  }
  const index = new Int32Array(dst * 4)
  const weight = new Float32Array(dst * 4)
  for (let d = 0; d < dst; d++) {
    const f = (d + 0.5) * scale - 0.5
    const s = Math.floor(f)
    cubicWeights(f - s, weight, 4 * d)
    for (let k = 0; k < 4; k++) index[4 * d + k] = clamp(s - 1 + k)
  }
  return { width: 4, index, weight }
}

/**
 * Resize an interleaved HWC float image. Separable: rows first, then columns, in float, so that
 * normalized values (which the format resizes after normalizing) keep their precision.
 */
export function resizeImage(src: Float32Array, height: number, width: number, channels: number, outHeight: number, outWidth: number, method: ResizeMethod): Float32Array {
  if (outHeight === height && outWidth === width) return src
  const tx = resizeTaps(width, outWidth, method)
  const ty = resizeTaps(height, outHeight, method)
  // horizontal pass: height x outWidth
  const mid = new Float32Array(height * outWidth * channels)
  const kx = tx.width
  for (let y = 0; y < height; y++) {
    const row = y * width * channels
    const orow = y * outWidth * channels
    for (let x = 0; x < outWidth; x++) {
      for (let c = 0; c < channels; c++) {
        let acc = 0
        for (let k = 0; k < kx; k++) acc += tx.weight[x * kx + k]! * src[row + tx.index[x * kx + k]! * channels + c]!
        mid[orow + x * channels + c] = acc
      }
    }
  }
  const out = new Float32Array(outHeight * outWidth * channels)
  const ky = ty.width
  const stride = outWidth * channels
  for (let y = 0; y < outHeight; y++) {
    const orow = y * stride
    for (let k = 0; k < ky; k++) {
      const w = ty.weight[y * ky + k]!
      if (w === 0) continue
      const srow = ty.index[y * ky + k]! * stride
      for (let i = 0; i < stride; i++) out[orow + i] += w * mid[srow + i]!
    }
  }
  return out
}

/** The centred `cropHeight` x `cropWidth` window (offsets rounded down, as OpenCV's centre crop). */
export function centerCrop(src: Float32Array, height: number, width: number, channels: number, cropHeight: number, cropWidth: number): Float32Array {
  if (cropHeight === height && cropWidth === width) return src
  const top = Math.floor((height - cropHeight) / 2)
  const left = Math.floor((width - cropWidth) / 2)
  const out = new Float32Array(cropHeight * cropWidth * channels)
  const row = cropWidth * channels
  for (let y = 0; y < cropHeight; y++) {
    const s = ((top + y) * width + left) * channels
    out.set(src.subarray(s, s + row), y * row)
  }
  return out
}

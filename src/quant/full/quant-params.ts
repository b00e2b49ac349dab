import { DataType } from '../../onnx/onnx-types.js'
import { integerRange } from './device-profile.js'

/** Scale and zero point of one quantized tensor (or one channel of it). */
export interface QuantParams {
  scale: number
  zeroPoint: number
}

export interface ValueRange {
  min: number
  max: number
}

/**
 * Linear quantization parameters for a calibrated range. The range is widened to include 0 and
 * the zero point is rounded onto the integer grid, so a float 0 (padding, a Relu's floor) is
 * represented exactly. Symmetric encodings use [-max|x|, max|x|] over the codes -127..127 with
 * zero point 0 (uint8 symmetric centres on 128).
 */
export function activationParams(range: ValueRange, type: DataType.INT8 | DataType.UINT8, symmetric: boolean): QuantParams {
  const { qmin, qmax } = integerRange(type)
  const lo = Math.min(range.min, 0)
  const hi = Math.max(range.max, 0)
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new RangeError(`range [${range.min}, ${range.max}] is not finite`)
  if (symmetric) {
    const m = Math.max(-lo, hi)
    const scale = m > 0 ? Math.fround(m / 127) : 1
    return { scale, zeroPoint: type === DataType.INT8 ? 0 : 128 }
  }
  // a constant-zero tensor gets any positive scale; 1 keeps its codes exact
  const scale = hi > lo ? Math.fround((hi - lo) / (qmax - qmin)) : 1
  const zp = Math.round(qmin - lo / scale)
  return { scale, zeroPoint: zp < qmin ? qmin : zp > qmax ? qmax : zp }
}

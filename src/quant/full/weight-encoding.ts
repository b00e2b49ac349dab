import { DataType } from '../../onnx/onnx-types.js'
import { axisLayout } from '../per-channel.js'
import type { WeightForm } from './device-profile.js'

/** A weight's integer codes with one scale and zero point per output channel, or one for all. */
export interface IntWeight {
  codes: Int8Array | Uint8Array
  type: DataType.INT8 | DataType.UINT8
  scale: Float32Array
  zeroPoint: Int8Array | Uint8Array
  /** The channel axis, null when per tensor. */
  axis: number | null
  /** What each code decodes to, for bias correction. */
  decoded: Float32Array
}

const INT32_GUARD = 2 ** 30

/**
 * Encode a float weight in `form`: symmetric (int8 codes -127..127, zero point 0) or asymmetric,
 * per channel along `axis` or per tensor.
 *
 * The int32 bias is stored as b / (input_scale * weight_scale): a channel whose weights are all
 * (nearly) zero gets a (nearly) zero scale and its bias overflows int32. Each scale is therefore
 * raised to at least |b| / (input_scale * 2^30), which keeps every bias code within +-2^30.
 * Codes of channels whose scale was raised lose nothing that mattered: their weights were ~0.
 */
export function encodeIntWeight(values: Float32Array, dims: readonly number[], axis: number, form: WeightForm, bias: Float32Array | null, inputScale: number): IntWeight {
  const { outer, channels, inner } = axisLayout(dims, axis)
  const perChannel = form.perChannel
  const groups = perChannel ? channels : 1
  const lo = new Float64Array(groups)
  const hi = new Float64Array(groups)
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const g = perChannel ? c : 0
      const base = (o * channels + c) * inner
      let mn = lo[g]!
      let mx = hi[g]!
      for (let i = 0; i < inner; i++) {
        const v = values[base + i]!
        if (v < mn) mn = v
        if (v > mx) mx = v
      }
      lo[g] = mn
      hi[g] = mx
    }
  }
  const floor = new Float64Array(groups)
  if (bias) {
    for (let c = 0; c < channels; c++) {
      const g = perChannel ? c : 0
      floor[g] = Math.max(floor[g]!, Math.abs(bias[c]!) / (inputScale * INT32_GUARD))
    }
  }
  const symmetric = form.symmetric
  const type = form.type
  const qmin = type === DataType.INT8 ? (symmetric ? -127 : -128) : 0
  const qmax = type === DataType.INT8 ? 127 : 255
  const scale = new Float32Array(groups)
  const zeroPoint = type === DataType.INT8 ? new Int8Array(groups) : new Uint8Array(groups)
  for (let g = 0; g < groups; g++) {
    if (!Number.isFinite(lo[g]!) || !Number.isFinite(hi[g]!)) throw new RangeError('weight holds a non-finite value')
    let s: number
    let zp: number
    if (symmetric) {
      s = Math.max(-lo[g]!, hi[g]!) / 127
      zp = type === DataType.INT8 ? 0 : 128
    } else {
      s = (hi[g]! - lo[g]!) / (qmax - qmin)
      zp = s > 0 ? Math.round(qmin - lo[g]! / s) : qmin
    }
    s = Math.max(s, floor[g]!)
    // an all-zero channel without a bias: any positive scale codes it exactly
    scale[g] = s > 0 ? Math.fround(s) : 1
    zeroPoint[g] = Math.min(qmax, Math.max(qmin, zp))
  }
  const codes = type === DataType.INT8 ? new Int8Array(values.length) : new Uint8Array(values.length)
  const decoded = new Float32Array(values.length)
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const g = perChannel ? c : 0
      const s = scale[g]!
      const inv = 1 / s
      const zp = zeroPoint[g]!
      const base = (o * channels + c) * inner
      for (let i = 0; i < inner; i++) {
        let q = Math.round(values[base + i]! * inv) + zp
        q = q < qmin ? qmin : q > qmax ? qmax : q
        codes[base + i] = q
        decoded[base + i] = (q - zp) * s
      }
    }
  }
  return { codes, type, scale, zeroPoint, axis: perChannel ? axis : null, decoded }
}

/** The int32 bias codes b / (input_scale * weight_scale) and their scales. */
export function encodeBias(bias: Float32Array, weight: IntWeight, inputScale: number): { codes: Int32Array; scale: Float32Array } {
  const perChannel = weight.axis !== null
  const scale = new Float32Array(perChannel ? bias.length : 1)
  for (let g = 0; g < scale.length; g++) scale[g] = Math.fround(inputScale * weight.scale[g]!)
  const codes = new Int32Array(bias.length)
  for (let c = 0; c < bias.length; c++) {
    const q = Math.round(bias[c]! / scale[perChannel ? c : 0]!)
    codes[c] = Math.max(-(2 ** 31), Math.min(2 ** 31 - 1, q))
  }
  return { codes, scale }
}

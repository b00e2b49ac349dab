import ort from 'onnxruntime-node'
import { DataType } from '../onnx/onnx-types.js'
import type { InputSpec } from '../runtime/feeds.js'
import { floatToHalf } from '../onnx/float16.js'

export const ORT_TYPES: Partial<Record<number, ort.Tensor.Type>> = {
  [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.INT64]: 'int64', [DataType.INT32]: 'int32',
  [DataType.INT8]: 'int8', [DataType.UINT8]: 'uint8', [DataType.BOOL]: 'bool', [DataType.INT16]: 'int16',
  [DataType.UINT16]: 'uint16', [DataType.FLOAT16]: 'float16',
}

/** Where an image input keeps its channel, batch and spatial axes. */
export interface ImageLayout {
  /** 'NCHW' and 'NHWC' have a batch axis; 'CHW', 'HWC' and 'HW' do not. */
  order: 'NCHW' | 'NHWC' | 'CHW' | 'HWC' | 'HW'
  /** Channels the input declares, null when that dim is dynamic. */
  channels: number | null
  /** Declared height and width, null when dynamic (the preprocessed size is used). */
  height: number | null
  width: number | null
}

const fixed = (d: number | null | undefined): number | null => (d !== null && d !== undefined && d > 0 ? d : null)
const isChannel = (d: number | null | undefined): boolean => d === 1 || d === 3

/**
 * The layout of an image input, read from its shape: the channel axis is the one declared 1 or 3
 * (channels-first wins when both are, as ONNX exporters lay images out NCHW); with no channel
 * axis declared, channels-first. A leading batch dim must be 1 or dynamic: one image per sample.
 * Returns a reason when the shape cannot hold an image.
 */
export function imageLayout(spec: InputSpec): ImageLayout | string {
  const d = spec.dims
  if (d.length === 4) {
    if (fixed(d[0]) !== null && d[0] !== 1) return `its batch dim is ${d[0]}, but an image calibration sample is one image`
    if (isChannel(d[1]) || (!isChannel(d[3]) && fixed(d[1]) === null)) return { order: 'NCHW', channels: fixed(d[1]), height: fixed(d[2]), width: fixed(d[3]) }
    if (isChannel(d[3]) || fixed(d[3]) === null) return { order: 'NHWC', channels: fixed(d[3]), height: fixed(d[1]), width: fixed(d[2]) }
    return `neither dim 1 (${d[1]}) nor dim 3 (${d[3]}) is a channel count of 1 or 3`
  }
  if (d.length === 3) {
    if (isChannel(d[0]) || (!isChannel(d[2]) && fixed(d[0]) === null)) return { order: 'CHW', channels: fixed(d[0]), height: fixed(d[1]), width: fixed(d[2]) }
    if (isChannel(d[2]) || fixed(d[2]) === null) return { order: 'HWC', channels: fixed(d[2]), height: fixed(d[0]), width: fixed(d[1]) }
    return `neither dim 0 (${d[0]}) nor dim 2 (${d[2]}) is a channel count of 1 or 3`
  }
  if (d.length === 2) return { order: 'HW', channels: 1, height: fixed(d[0]), width: fixed(d[1]) }
  return `it has rank ${d.length}; image inputs have rank 2 (HW), 3 (CHW/HWC) or 4 (NCHW/NHWC)`
}

/** The tensor dims for an image of `height` x `width` x `channels` in `layout`. */
export function layoutDims(layout: ImageLayout, height: number, width: number, channels: number): number[] {
  switch (layout.order) {
    case 'NCHW': return [1, channels, height, width]
    case 'NHWC': return [1, height, width, channels]
    case 'CHW': return [channels, height, width]
    case 'HWC': return [height, width, channels]
    case 'HW': return [height, width]
  }
}

/** Interleaved HWC floats laid out as the input wants (planar for channels-first). */
export function arrangeImage(hwc: Float32Array, height: number, width: number, channels: number, layout: ImageLayout): Float32Array {
  if (layout.order !== 'NCHW' && layout.order !== 'CHW') return hwc
  if (channels === 1) return hwc
  const plane = height * width
  const out = new Float32Array(hwc.length)
  for (let c = 0; c < channels; c++) {
    const base = c * plane
    for (let p = 0, s = c; p < plane; p++, s += channels) out[base + p] = hwc[s]!
  }
  return out
}

const INT_RANGES: Partial<Record<ort.Tensor.Type, [number, number]>> = {
  uint8: [0, 255], int8: [-128, 127], int16: [-32768, 32767], uint16: [0, 65535], int32: [-2147483648, 2147483647],
}

/** Float values in the input's element type: integers rounded half to even and saturated. */
export function toElementType(values: Float32Array, type: ort.Tensor.Type): ort.Tensor.DataType {
  const n = values.length
  switch (type) {
    case 'float32': return values
    case 'float64': return Float64Array.from(values)
    case 'float16': {
      const out = new Uint16Array(n)
      for (let i = 0; i < n; i++) out[i] = floatToHalf(values[i]!)
      return out
    }
    case 'int64': {
      const out = new BigInt64Array(n)
      for (let i = 0; i < n; i++) out[i] = BigInt(roundEven(values[i]!))
      return out
    }
    case 'bool': {
      const out = new Uint8Array(n)
      for (let i = 0; i < n; i++) out[i] = values[i] !== 0 ? 1 : 0
      return out
    }
    default: {
      const range = INT_RANGES[type]
      if (!range) throw new Error(`element type ${type} is not supported for image calibration`)
      const [lo, hi] = range
      const out = type === 'uint8' ? new Uint8Array(n) : type === 'int8' ? new Int8Array(n) : type === 'int16' ? new Int16Array(n)
        : type === 'uint16' ? new Uint16Array(n) : new Int32Array(n)
      for (let i = 0; i < n; i++) {
        const v = roundEven(values[i]!)
        out[i] = v < lo ? lo : v > hi ? hi : v
      }
      return out
    }
  }
}

function roundEven(v: number): number {
  const r = Math.round(v)
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r
}

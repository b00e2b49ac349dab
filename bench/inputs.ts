// Realistic inputs per model: rendered text for the OCR models, audio-like frames for silero,
// generated inputs (src/runtime/feeds.ts) for the rest.
import ort from 'onnxruntime-node'
import sharp from 'sharp'
import type { ModelProto } from '../src/onnx/onnx-types.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { generatedFeeds, inputSpecs, seededRandom, type Feeds, type InputSpec } from '../src/runtime/feeds.js'
import { sileroFrameLength } from '../test/helpers/model-inputs.js'
import { renderPage, renderWord, toNchw } from '../test/helpers/text-images.js'
import type { InputKind } from './models.js'

const IMAGENET_MEAN = [0.485, 0.456, 0.406]
const IMAGENET_STD = [0.229, 0.224, 0.225]
const HALF = [0.5, 0.5, 0.5]
const SAMPLE_RATE = 16000

function only(specs: InputSpec[], what: string): InputSpec {
  if (specs.length !== 1) throw new Error(`${what}: expected one input, the model has ${specs.length}`)
  return specs[0]!
}

function image(name: string, data: Float32Array, height: number, width: number): Feeds {
  return { [name]: new ort.Tensor('float32', data, [1, 3, height, width]) }
}

/** A rendered 640x640 text page, ImageNet-normalised, for PP-OCR det. */
async function detFeeds(specs: InputSpec[], seed: number): Promise<Feeds> {
  const page = await renderPage(seed, 640)
  return image(only(specs, 'det').name, toNchw(page, IMAGENET_MEAN, IMAGENET_STD), page.height, page.width)
}

/** A rendered 48x320 word crop, (x - 0.5) / 0.5, for PP-OCR rec. */
async function recFeeds(specs: InputSpec[], seed: number): Promise<Feeds> {
  const word = await renderWord(seed)
  return image(only(specs, 'rec').name, toNchw(word, HALF, HALF), word.height, word.width)
}

/** A word crop resized to the classifier's 48x192, (x - 0.5) / 0.5. */
async function clsFeeds(specs: InputSpec[], seed: number): Promise<Feeds> {
  const word = await renderWord(seed)
  const { data, info } = await sharp(word.data, { raw: { width: word.width, height: word.height, channels: 3 } })
    .resize(192, 48, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true })
  const img = { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height }
  return image(only(specs, 'cls').name, toNchw(img, HALF, HALF), img.height, img.width)
}

/** Audio-like signal at 16 kHz: a few steady harmonics of a voice-range pitch plus noise. */
function steadyTone(seed: number, length: number): Float32Array {
  const rand = seededRandom(seed)
  const f0 = 90 + rand() * 200
  const harmonics = Array.from({ length: 4 }, (_, h) => ({ f: f0 * (h + 1), a: (0.3 * rand()) / (h + 1), p: rand() * 2 * Math.PI }))
  const noise = 0.005 + rand() * 0.02
  const out = new Float32Array(length)
  for (let i = 0; i < length; i++) {
    const t = i / SAMPLE_RATE
    let v = 0
    for (const { f, a, p } of harmonics) v += a * Math.sin(2 * Math.PI * f * t + p)
    out[i] = v + noise * (rand() * 2 - 1)
  }
  return out
}

/**
 * silero VAD, any version: the rank-2 float input gets an audio frame of the length its wrappers
 * feed (test/helpers/model-inputs.ts, sileroFrameLength: 64 context + 512 samples for v5 and
 * op18, 1536 for legacy), `sr` int64 16000, every other float input (state, h, c) zeros of the
 * declared shape with dynamic dims as 1 (the start of a stream).
 */
function sileroFeeds(specs: InputSpec[], seed: number): Feeds {
  const feeds: Feeds = {}
  const frame = sileroFrameLength(specs.map((s) => s.name))
  for (const spec of specs) {
    if (spec.elemType === DataType.INT64 && spec.name === 'sr') {
      feeds[spec.name] = new ort.Tensor('int64', BigInt64Array.of(BigInt(SAMPLE_RATE)), spec.dims.map(() => 1))
    } else if (spec.elemType === DataType.FLOAT && spec.dims.length === 2) {
      feeds[spec.name] = new ort.Tensor('float32', steadyTone(seed, frame), [1, frame])
    } else if (spec.elemType === DataType.FLOAT) {
      const dims = spec.dims.map((d) => (d !== null && d > 0 ? d : 1))
      feeds[spec.name] = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)), dims)
    } else {
      throw new Error(`silero input '${spec.name}' (type ${spec.elemType}) is not one the benchmark knows`)
    }
  }
  return feeds
}

/** `count` realistic input samples for the model, deterministic across runs (seeds from `seedBase`). */
export async function realisticFeeds(kind: InputKind, model: ModelProto, count: number, seedBase = 1000): Promise<Feeds[]> {
  const specs = inputSpecs(model)
  const out: Feeds[] = []
  for (let i = 0; i < count; i++) {
    const seed = seedBase + i
    switch (kind) {
      case 'ocr-det': out.push(await detFeeds(specs, seed)); break
      case 'ocr-rec': out.push(await recFeeds(specs, seed)); break
      case 'ocr-cls': out.push(await clsFeeds(specs, seed)); break
      case 'silero': out.push(sileroFeeds(specs, seed)); break
      case 'generated': out.push(generatedFeeds(specs, seed)); break
    }
  }
  return out
}

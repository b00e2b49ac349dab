import sharp from 'sharp'
import { seededRandom } from '../../src/runtime/feeds.js'

// Realistic inputs for the OCR models: pages and word crops rendered with the machine's DejaVu
// fonts. OCR detectors give near-empty output maps on noise, so accuracy is judged on text.

const WORDS = ['invoice', 'total', 'Quantize', 'model', 'ONNX', 'runtime', 'browser', 'weights', 'Hello', 'World',
  '2026', 'price', '42.50', 'shipping', 'address', 'Street', 'order', 'number', 'delivery', 'receipt', 'TAX',
  'amount', 'date', 'customer', 'summary', 'page', 'item', 'quantity', 'discount', 'balance', 'Berlin', 'Paris']
const FONTS = ['DejaVu Sans', 'DejaVu Serif', 'DejaVu Sans Mono']

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;')
}

export function randomWord(rand: () => number): string {
  const n = 1 + Math.floor(rand() * 2)
  return Array.from({ length: n }, () => WORDS[Math.floor(rand() * WORDS.length)]).join(' ')
}

/** An RGB page of `size` x `size` with a few lines of text, as raw HWC uint8. */
export async function renderPage(seed: number, size = 640): Promise<{ data: Uint8Array; width: number; height: number }> {
  const rand = seededRandom(seed)
  const bg = 200 + Math.floor(rand() * 55)
  let body = ''
  let y = 40 + rand() * 40
  while (y < size - 30) {
    const fontSize = 18 + Math.floor(rand() * 26)
    const x = 10 + rand() * 120
    const shade = Math.floor(rand() * 90)
    const words = Array.from({ length: 2 + Math.floor(rand() * 4) }, () => randomWord(rand)).join(' ')
    body += `<text x="${x.toFixed(0)}" y="${y.toFixed(0)}" font-size="${fontSize}" font-family="${FONTS[Math.floor(rand() * FONTS.length)]}" fill="rgb(${shade},${shade},${shade})">${escape(words)}</text>`
    y += fontSize * (1.4 + rand() * 1.6)
  }
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="rgb(${bg},${bg},${bg - 10})"/>${body}</svg>`
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height }
}

/** A word crop for the recognizer: height 48, width 320, RGB HWC uint8, with the text it shows. */
export async function renderWord(seed: number): Promise<{ data: Uint8Array; width: number; height: number; text: string }> {
  const rand = seededRandom(seed)
  const text = randomWord(rand)
  const font = FONTS[Math.floor(rand() * FONTS.length)]
  const size = 26 + Math.floor(rand() * 8)
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="320" height="48"><rect width="100%" height="100%" fill="white"/><text x="${(4 + rand() * 10).toFixed(0)}" y="${34 + Math.floor(rand() * 4)}" font-size="${size}" font-family="${font}">${escape(text)}</text></svg>`
  const { data, info } = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true })
  return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, text }
}

/**
 * A word as a detector box gives it to the recognizer: the rendered word cut to its inked columns
 * plus `margin` pixels each side, full 48-pixel height. This is what @gutenye/ocr feeds PP-OCR rec
 * (each detected line resized to height 48, width by aspect ratio, no padding); the 320-wide
 * canvas of `renderWord` adds a blank stretch the model never sees in that pipeline.
 */
export async function renderWordCrop(seed: number, margin = 6): Promise<{ data: Uint8Array; width: number; height: number; text: string }> {
  const word = await renderWord(seed)
  const { data, width, height } = word
  let first = width
  let last = -1
  for (let x = 0; x < width; x++) {
    for (let y = 0; y < height; y++) {
      if (data[(y * width + x) * 3]! < 200) {
        if (x < first) first = x
        last = x
        break
      }
    }
  }
  if (last < 0) return word
  const x0 = Math.max(0, first - margin)
  const x1 = Math.min(width, last + 1 + margin)
  const cropWidth = x1 - x0
  const crop = new Uint8Array(cropWidth * height * 3)
  for (let y = 0; y < height; y++) crop.set(data.subarray((y * width + x0) * 3, (y * width + x1) * 3), y * cropWidth * 3)
  return { data: crop, width: cropWidth, height, text: word.text }
}

/** HWC uint8 RGB to NCHW float32 with (x / 255 - mean) / std per channel. */
export function toNchw(img: { data: Uint8Array; width: number; height: number }, mean: number[], std: number[]): Float32Array {
  const { data, width, height } = img
  const out = new Float32Array(3 * width * height)
  const plane = width * height
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = (data[p * 3 + c]! / 255 - mean[c]!) / std[c]!
  }
  return out
}

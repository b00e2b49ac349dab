// Runs the (build-time quantized) PP-OCRv4 text detector on a sample page with onnxruntime-web
// and draws its text-probability map over the image.
import * as ort from 'onnxruntime-web/wasm'
// onnxruntime-web's wasm binary and its Emscripten JS glue, as hashed assets of this build.
// The glue is also inlined in the package's bundle, but pointing wasmPaths.mjs at a file of its
// own keeps multi-threaded runs working: the pthread workers load that file, not the app's chunk.
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url'
import glueUrl from 'onnxruntime-web/ort-wasm-simd-threaded.mjs?url'
// The plugin quantizes this model (models/det.onnx.cfg) and emits it under a hashed name.
import modelUrl from './models/det.onnx'
// Rendered by `npm run demo` (scripts/demo.ts) with the same text renderer as the tests.
import sampleUrl from './sample.png'

const SIZE = 640 // detector input: a multiple of 32
const MEAN = [0.485, 0.456, 0.406]
const STD = [0.229, 0.224, 0.225]

ort.env.wasm.wasmPaths = { wasm: new URL(wasmUrl, import.meta.url).href, mjs: new URL(glueUrl, import.meta.url).href }
// threads need cross-origin isolation (see vite.config.js preview.headers); else one thread
ort.env.wasm.numThreads = globalThis.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1

const $ = (id) => document.getElementById(id)
const status = (text) => { $('status').textContent = text }

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const img = new Image()
    img.onload = () => resolve(img)
    img.onerror = () => reject(new Error(`cannot load ${url}`))
    img.src = url
  })
}

/** RGBA pixels to float32 NCHW [1, 3, H, W] with (x / 255 - mean) / std. */
function toTensor({ data, width, height }) {
  const plane = width * height
  const out = new Float32Array(3 * plane)
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = (data[p * 4 + c] / 255 - MEAN[c]) / STD[c]
  }
  return new ort.Tensor('float32', out, [1, 3, height, width])
}

function drawMask(canvas, img, prob, width, height) {
  const ctx = canvas.getContext('2d')
  canvas.width = width
  canvas.height = height
  ctx.drawImage(img, 0, 0, width, height)
  const pixels = ctx.getImageData(0, 0, width, height)
  for (let p = 0; p < width * height; p++) {
    const a = Math.min(1, Math.max(0, prob[p])) * 0.6
    pixels.data[p * 4] = Math.round(pixels.data[p * 4] * (1 - a) + 255 * a)
    pixels.data[p * 4 + 1] = Math.round(pixels.data[p * 4 + 1] * (1 - a))
    pixels.data[p * 4 + 2] = Math.round(pixels.data[p * 4 + 2] * (1 - a))
  }
  ctx.putImageData(pixels, 0, 0)
}

async function showReport() {
  const reportUrl = modelUrl.replace(/\.onnx$/, '.quant.json')
  $('report-url').href = reportUrl
  $('report-url').textContent = reportUrl
  try {
    const r = await (await fetch(reportUrl)).json()
    const cos = r.cosineSimilarity == null ? 'n/a' : r.cosineSimilarity.toFixed(5)
    $('report').textContent = `— ${r.quantType} ${r.bitNum} bit, ${(r.sizeIn / 1e6).toFixed(2)} MB fp32 → ${(r.sizeOut / 1e6).toFixed(2)} MB, ${r.nodesQuantized} weights quantized, output cosine vs fp32 ${cos}`
  } catch {
    $('report').textContent = '(no report)'
  }
}

async function main() {
  $('model-url').href = modelUrl
  $('model-url').textContent = modelUrl
  void showReport()

  const [img, modelBytes] = await Promise.all([
    loadImage(sampleUrl),
    fetch(modelUrl).then((r) => {
      if (!r.ok) throw new Error(`${modelUrl}: HTTP ${r.status}`)
      return r.arrayBuffer()
    }),
  ])
  $('model-size').textContent = `${(modelBytes.byteLength / 1e6).toFixed(2)} MB`

  const input = $('input')
  input.width = SIZE
  input.height = SIZE
  const ctx = input.getContext('2d', { willReadFrequently: true })
  ctx.drawImage(img, 0, 0, SIZE, SIZE) // resize to the model's 640 x 640
  const feeds = { x: toTensor(ctx.getImageData(0, 0, SIZE, SIZE)) }

  status('creating session…')
  const session = await ort.InferenceSession.create(new Uint8Array(modelBytes), { executionProviders: ['wasm'] })
  status('running…')
  const t0 = performance.now()
  const out = await session.run({ [session.inputNames[0]]: feeds.x })
  const ms = performance.now() - t0
  const prob = out[session.outputNames[0]] // [1, 1, 640, 640]
  const [, , h, w] = prob.dims
  drawMask($('overlay'), img, prob.data, w, h)
  const text = Array.from(prob.data).filter((v) => v > 0.3).length
  status(`done in ${ms.toFixed(0)} ms (${ort.env.wasm.numThreads} thread${ort.env.wasm.numThreads === 1 ? '' : 's'}); ${(100 * text / (w * h)).toFixed(1)}% of pixels are text (p > 0.3)`)
  document.body.dataset.done = 'true'
}

main().catch((err) => {
  console.error(err)
  status(String(err?.message ?? err))
  $('status').className = 'error'
  document.body.dataset.error = String(err?.message ?? err)
})

// Runs the (build-time quantized) PP-OCRv4 text detector on a sample page with onnxruntime-web,
// draws its text-probability map over the image, runs the fp32 model on the same input and shows
// the cosine similarity of the two maps. The numbers are also on window.__quantizeResult
// (test/browser-example.test.ts reads them in headless Chromium).
import * as ort from 'onnxruntime-web/wasm'
// onnxruntime-web's wasm binary and its Emscripten JS glue, as hashed assets of this build.
// The glue is also inlined in the package's bundle, but pointing wasmPaths.mjs at a file of its
// own keeps multi-threaded runs working: the pthread workers load that file, not the app's chunk.
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.wasm?url'
import glueUrl from 'onnxruntime-web/ort-wasm-simd-threaded.mjs?url'
// The plugin quantizes this model (models/det.onnx.cfg) and emits it under a hashed name.
import modelUrl from './models/det.onnx'
// The same model left in fp32 (vite.config.js excludes *.float.onnx): the reference.
import floatUrl from './models/det.float.onnx'
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

async function fetchBytes(url) {
  const r = await fetch(url)
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`)
  return new Uint8Array(await r.arrayBuffer())
}

function cosine(a, b) {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i]
    na += a[i] * a[i]
    nb += b[i] * b[i]
  }
  return dot / Math.sqrt(na * nb)
}

/** Runs the model once on `input`; returns its first output and the run time. */
async function runModel(bytes, input) {
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] })
  try {
    const t0 = performance.now()
    const out = await session.run({ [session.inputNames[0]]: input })
    return { prob: out[session.outputNames[0]], ms: performance.now() - t0 }
  } finally {
    await session.release()
  }
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
  $('float-url').href = floatUrl
  $('float-url').textContent = floatUrl
  void showReport()

  const [img, modelBytes, floatBytes] = await Promise.all([loadImage(sampleUrl), fetchBytes(modelUrl), fetchBytes(floatUrl)])
  $('model-size').textContent = `${(modelBytes.byteLength / 1e6).toFixed(2)} MB`
  $('float-size').textContent = `${(floatBytes.byteLength / 1e6).toFixed(2)} MB`

  const input = $('input')
  input.width = SIZE
  input.height = SIZE
  const ctx = input.getContext('2d', { willReadFrequently: true })
  ctx.drawImage(img, 0, 0, SIZE, SIZE) // resize to the model's 640 x 640
  const feeds = { x: toTensor(ctx.getImageData(0, 0, SIZE, SIZE)) }

  status('running the quantized model…')
  const { prob, ms } = await runModel(modelBytes, feeds.x) // [1, 1, 640, 640]
  const [, , h, w] = prob.dims
  drawMask($('overlay'), img, prob.data, w, h)
  const textPixels = prob.data.filter((v) => v > 0.3).length
  const threads = `${ort.env.wasm.numThreads} thread${ort.env.wasm.numThreads === 1 ? '' : 's'}`
  status(`quantized model done in ${ms.toFixed(0)} ms (${threads}); running the fp32 model…`)

  const float = await runModel(floatBytes, feeds.x)
  const cos = cosine(prob.data, float.prob.data)
  const floatText = float.prob.data.filter((v) => v > 0.3).length
  $('cosine').textContent = `${cos.toFixed(6)} (text pixels: ${textPixels} quantized, ${floatText} fp32)`
  status(`done: quantized ${ms.toFixed(0)} ms, fp32 ${float.ms.toFixed(0)} ms (${threads}); ${(100 * textPixels / (w * h)).toFixed(1)}% of pixels are text (p > 0.3)`)
  window.__quantizeResult = { cosine: cos, quantizedBytes: modelBytes.byteLength, floatBytes: floatBytes.byteLength, textPixels, floatTextPixels: floatText, ms, floatMs: float.ms, modelUrl, floatUrl, threads: ort.env.wasm.numThreads }
  document.body.dataset.done = 'true'
}

main().catch((err) => {
  console.error(err)
  status(String(err?.message ?? err))
  $('status').className = 'error'
  document.body.dataset.error = String(err?.message ?? err)
})

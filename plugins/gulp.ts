// `import quantize from 'unplugin-quantize/gulp'` then
// `src('models/**/*.onnx', { encoding: false }).pipe(quantize({ ... })).pipe(dest('dist/models'))`
import { quantizeGulp } from './core/gulp-stream.js'

export type { QuantizeGulpStream, VinylLike } from './core/gulp-stream.js'
export type { Options, QuantizePluginApi, QuantizeStats } from './core/unplugin.js'
export { quantizeGulp as quantize }
export default quantizeGulp

// `import quantize from 'unplugin-quantize/esbuild'` then `plugins: [quantize({ ... })]`
import { quantizeEsbuild } from './core/esbuild-plugin.js'

export type { QuantizeEsbuildPlugin } from './core/esbuild-plugin.js'
export type { Options, QuantizePluginApi, QuantizeStats } from './core/unplugin.js'
export { quantizeEsbuild as quantize }
export default quantizeEsbuild

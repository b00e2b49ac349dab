// ESM: `import quantize from 'unplugin-quantize/webpack'` then `plugins: [quantize({ ... })]`
// CommonJS (Node >= 20.19 can require ES modules): `const { quantize } = require('unplugin-quantize/webpack')`
import { quantizeWebpack } from './core/webpack-plugin.js'

export { QuantizeWebpackPlugin } from './core/webpack-plugin.js'
export type { Options, QuantizePluginApi, QuantizeStats } from './core/unplugin.js'
export { quantizeWebpack as quantize }
export default quantizeWebpack

// ESM: `import quantize from 'unplugin-quantize/rspack'` then `plugins: [quantize({ ... })]`
// CommonJS (Node >= 20.19 can require ES modules): `const { quantize } = require('unplugin-quantize/rspack')`
import { quantizeRspack } from './core/rspack-plugin.js'

export { QuantizeRspackPlugin } from './core/rspack-plugin.js'
export type { Options, QuantizePluginApi, QuantizeStats } from './core/unplugin.js'
export { quantizeRspack as quantize }
export default quantizeRspack

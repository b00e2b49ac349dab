// `import quantize from 'unplugin-quantize/rollup'` then `plugins: [quantize({ ... })]`
import { unplugin } from './core/unplugin.js'

export type { Options, QuantizePluginApi, QuantizeStats } from './core/unplugin.js'
export default unplugin.rollup

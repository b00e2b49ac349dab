// `import quantize from 'unplugin-quantize/vite'` then `plugins: [quantize({ ... })]`
import { unplugin } from './core/unplugin.js'

export type { Options, QuantizePluginApi, QuantizeStats } from './core/unplugin.js'
export default unplugin.vite

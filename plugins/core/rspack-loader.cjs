'use strict'
// The rspack side of unplugin-quantize/rspack (see rspack-plugin.ts). rspack reads module files
// in Rust, so the quantized bytes reach it through this raw loader: it gets the model as a
// Buffer and hands it to the plugin instance named in its options, which lives in this same
// process (registered on globalThis, so it is found whichever copy of the package loaded it).
// Plain CommonJS rather than TypeScript: rspack loads loaders by path, from sources and dist alike.
const REGISTRY = Symbol.for('unplugin-quantize/rspack-loaders')

module.exports = function quantizeLoader(source) {
  const callback = this.async()
  const { id } = this.getOptions()
  const handler = globalThis[REGISTRY] && globalThis[REGISTRY].get(id)
  if (!handler) {
    callback(new Error(`unplugin-quantize: no rspack plugin instance '${id}' in this process (rspack's parallel loaders are not supported)`))
    return
  }
  handler(this, source).then((bytes) => callback(null, bytes), (err) => callback(err))
}
module.exports.raw = true

// examples/vite's app (the PP-OCRv4 text detector in onnxruntime-web, ../vite/main.js and its
// models), built with webpack instead of Vite. The package resolves itself by name, as in an app
// that installed it; it loads dist/ (`npm run build` first). `npm run demo` (or the tests)
// generates the models, calibration data and sample page that ../vite/prepare.ts describes.
//
//   node examples/webpack/webpack.config.js    # builds examples/webpack/dist
//
// (webpack-cli is not a dependency of this repository; with it, `webpack -c <this file>` does the same)
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import webpack from 'webpack'
import quantize from 'unplugin-quantize/webpack'

const here = import.meta.dirname
const app = path.resolve(here, '../vite')

/** index.html is the Vite app's page with its script pointed at webpack's bundle. */
class IndexHtml {
  apply(compiler) {
    const { Compilation, sources } = compiler.webpack
    compiler.hooks.thisCompilation.tap('IndexHtml', (compilation) => {
      compilation.hooks.processAssets.tap({ name: 'IndexHtml', stage: Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL }, () => {
        const html = fs.readFileSync(path.join(app, 'index.html'), 'utf8')
        compilation.emitAsset('index.html', new sources.RawSource(html))
      })
    })
  }
}

const config = {
  mode: 'production',
  context: app,
  entry: './main.js',
  output: {
    path: path.join(here, 'dist'),
    filename: 'main.js',
    // an ES module, as the page loads it (<script type="module">), so import.meta.url works
    module: true,
    chunkFormat: 'module',
    assetModuleFilename: 'assets/[name]-[contenthash][ext]',
    clean: true,
  },
  experiments: { outputModule: true },
  module: {
    rules: [
      // Vite's `?url` imports: onnxruntime-web's wasm and its glue, fetched by URL at run time
      { resourceQuery: /^\?url$/, type: 'asset/resource' },
      { test: /\.png$/, type: 'asset/resource' },
      // the fp32 reference model, which the plugin leaves alone (exclude below): a plain asset
      { test: /\.float\.onnx$/, type: 'asset/resource' },
    ],
    // main.js builds the wasm URLs at run time with `new URL(url, import.meta.url)`, where
    // import.meta.url is the page's script: webpack must leave both alone, not turn them into
    // a module lookup and a build-time file:// URL (the models are imports, not `new URL`)
    parser: { javascript: { url: false, importMeta: false } },
  },
  plugins: [
    // webpack looks a `?url` query up in the package's exports; point it at the files instead
    new webpack.NormalModuleReplacementPlugin(/^onnxruntime-web\/ort-wasm-simd-threaded\.(wasm|mjs)\?url$/, (resource) => {
      resource.request = `${fileURLToPath(import.meta.resolve(resource.request.replace(/\?url$/, '')))}?url`
    }),
    quantize({
      // the same options as ../vite/vite.config.js
      verify: true,
      exclude: ['**/*.float.onnx'],
      cacheDir: '../../node_modules/.cache/unplugin-quantize',
    }),
    new IndexHtml(),
  ],
  performance: { hints: false },
}

export default config

// run as a script: build with webpack's Node API and print what webpack's CLI would
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  webpack(config, (err, stats) => {
    if (err) throw err
    console.log(stats.toString({ colors: process.stdout.isTTY, modules: false }))
    if (stats.hasErrors()) process.exitCode = 1
  })
}

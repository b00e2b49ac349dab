// The package resolves itself by name (package.json "exports"), so this is exactly what an app
// that installed unplugin-quantize writes. It loads dist/: `npm run build` first (the demo does).
import quantize from 'unplugin-quantize/vite'

export default {
  // relative asset URLs: the built app works from any folder or sub-path
  base: './',
  plugins: [
    quantize({
      // verify: run fp32 and int8 in onnxruntime-node and put the cosine in <model>.quant.json
      verify: true,
      // the fp32 copy the page compares against (models/det.float.onnx) is emitted unchanged
      exclude: ['**/*.float.onnx'],
      // relative to this folder: share the repository's cache instead of examples/vite/node_modules
      cacheDir: '../../node_modules/.cache/unplugin-quantize',
    }),
  ],
  build: { outDir: 'dist', emptyOutDir: true },
  // cross-origin isolation lets onnxruntime-web use its threaded wasm under `vite preview`
  preview: { headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } },
}

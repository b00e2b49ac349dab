// Child process for the FULL_QUANT cost rows:
//   node --import tsx bench/full-quant-child.ts <model.onnx> <cfg file> <out.onnx>
// Quantizes once (verify and sizes off: the cost asked about is the quantization itself) and
// prints one JSON line: wall time, maxRSS after imports and after the work, and the FULL_QUANT
// report's timings and bias-correction outcome.
const [model, cfg, out] = process.argv.slice(2)
if (!model || !cfg || !out) {
  console.error('usage: full-quant-child.ts <model.onnx> <cfg> <out.onnx>')
  process.exit(2)
}
const fs = await import('node:fs')
const { quantizeModel } = await import('../src/quantize-model.js')
const baseline = process.resourceUsage().maxRSS * 1024
const started = performance.now()
const result = await quantizeModel(model, cfg, { verify: false, sizes: false, debug: false })
const ms = performance.now() - started
const peak = process.resourceUsage().maxRSS * 1024
fs.writeFileSync(out, result.model)
const full = result.report.full!
console.log(JSON.stringify({ ms, baseline, peak, timings: full.timingsMs, biasCorrection: full.biasCorrection, samples: full.samples, warnings: result.report.warnings }))

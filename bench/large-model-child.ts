// Child process for the >2 GiB model row: quantize one model read from disk (external data) and
// write the result, reporting time and peak RSS above the baseline taken after imports.
//   node --import tsx bench/large-model-child.ts <model.onnx> <out.onnx>
const [file, out] = process.argv.slice(2)
if (!file || !out) {
  console.error('usage: large-model-child.ts <model.onnx> <out.onnx>')
  process.exit(2)
}
const path = await import('node:path')
const { quantizeModel } = await import('../src/quantize-model.js')
const { writeFilesAtomic } = await import('../src/write-atomic.js')
const baseline = process.resourceUsage().maxRSS * 1024
const started = performance.now()
const result = await quantizeModel(file, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } }, {
  verify: false, accuracyTarget: false, sizes: false, externalDataLocation: `${path.basename(out)}.data`,
})
const quantizeMs = performance.now() - started
const files: { path: string; bytes: Uint8Array }[] = [{ path: out, bytes: result.model }]
if (result.externalData) files.push({ path: path.join(path.dirname(out), result.externalData.location), bytes: result.externalData.bytes })
writeFilesAtomic(files)
const peak = process.resourceUsage().maxRSS * 1024
console.log(JSON.stringify({ baseline, peak, quantizeMs, layers: result.report.layers.length, sizeOut: result.report.sizeOut }))

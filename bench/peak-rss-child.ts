// Child process for the peak-RSS measurement:
//   node --import tsx bench/peak-rss-child.ts <model> <8|6> <target|no-target|sizes>
// Records maxRSS at start, imports the library, takes the peak RSS so far as the baseline,
// quantizes the model once (read from disk, verify: false; `no-target` also turns the accuracy
// target and the size report off, `sizes` only the accuracy target) and prints one JSON line
// with the three high-water marks in bytes.
const start = process.resourceUsage().maxRSS * 1024 // resourceUsage().maxRSS is in kilobytes

const [file, bitsText, mode] = process.argv.slice(2)
if (!file || (bitsText !== '8' && bitsText !== '6') || (mode !== 'target' && mode !== 'no-target' && mode !== 'sizes')) {
  console.error('usage: peak-rss-child.ts <model.onnx> <8|6> <target|no-target|sizes>')
  process.exit(2)
}
// imported here rather than statically so `start` is taken before they load
const { quantizeModel } = await import('../src/quantize-model.js')
const { weightQuantCfg } = await import('./models.js')
const bits = bitsText === '8' ? 8 : 6
const baseline = process.resourceUsage().maxRSS * 1024
const options = mode === 'target' ? { verify: false } : mode === 'sizes' ? { verify: false, accuracyTarget: false as const } : { verify: false, accuracyTarget: false as const, sizes: false }
const result = await quantizeModel(file, weightQuantCfg(bits), options)
const peak = process.resourceUsage().maxRSS * 1024
console.log(JSON.stringify({ start, baseline, peak, outBytes: result.model.byteLength }))

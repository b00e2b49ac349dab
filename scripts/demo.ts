// `npm run demo`: build the example app in examples/vite with the Vite plugin. Its page imports the
// PP-OCRv4 text detector; the plugin quantizes it (models/det.onnx.cfg), verifies it against fp32
// in onnxruntime-node and emits it with a .quant.json report. Prints a table from those reports.
// A second run is a cache hit.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { build, type Plugin } from 'vite'
import { prepareExample } from '../examples/vite/prepare.js'
import type { reportJson } from '../src/report/report-json.js'

const root = path.resolve(import.meta.dirname, '..')
const app = path.join(root, 'examples/vite')
const outDir = path.join(app, 'dist')

function newestMtime(dir: string, ext: string): number {
  let newest = 0
  for (const rel of fs.readdirSync(dir, { recursive: true, encoding: 'utf8' })) {
    if (!rel.endsWith(ext)) continue
    newest = Math.max(newest, fs.statSync(path.join(dir, rel)).mtimeMs)
  }
  return newest
}

/** vite.config.js imports `unplugin-quantize/vite`, i.e. dist/: rebuild it when src/ or plugins/ is newer. */
function ensureBuilt(): void {
  const entry = path.join(root, 'dist/plugins/vite.js')
  const sources = Math.max(newestMtime(path.join(root, 'src'), '.ts'), newestMtime(path.join(root, 'plugins'), '.ts'))
  if (fs.existsSync(entry) && fs.statSync(entry).mtimeMs >= sources) return
  console.log(fs.existsSync(entry) ? 'dist/ is older than src/ or plugins/: npm run build' : 'dist/ is missing: npm run build')
  try {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
  } catch {
    // tsc still emits on type errors; go on if there is something to run
    if (!fs.existsSync(entry)) process.exit(1)
    console.warn('npm run build reported errors; using the emitted dist/ anyway')
  }
}

interface Stats { quantized: number; reused: number; passedThrough: number; failed: number }
// what the plugin writes as <model>.quant.json
type Report = ReturnType<typeof reportJson>

const mb = (n: number | null) => (n === null ? 'n/a' : `${(n / 1e6).toFixed(2)} MB`)

await prepareExample()
ensureBuilt()

// finds the plugin that vite.config.js created, to read its counters after the build
let stats: () => Stats = () => ({ quantized: 0, reused: 0, passedThrough: 0, failed: 0 })
const probe: Plugin = {
  name: 'demo-probe',
  configResolved(config) {
    const plugin = config.plugins.find((p) => p.name === 'unplugin-quantize') as { api?: { stats(): Stats } } | undefined
    if (plugin?.api) stats = () => plugin.api!.stats()
  },
}
const t0 = performance.now()
// bundlerTimings: Rolldown's "plugin took N s" notice, which only repeats the table's quantize time
await build({ root: app, configFile: path.join(app, 'vite.config.js'), logLevel: 'warn', plugins: [probe], build: { outDir, rolldownOptions: { checks: { bundlerTimings: false } } } })
const seconds = (performance.now() - t0) / 1000
const s = stats()

const reports = fs.readdirSync(outDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.quant.json')).sort()
const cache = s.quantized === 0 && s.reused > 0 ? 'hit' : s.reused === 0 ? 'miss' : `${s.reused} hit / ${s.quantized} miss`
const rows = reports.map((f) => {
  const r = JSON.parse(fs.readFileSync(path.join(outDir, f), 'utf8')) as Report
  return [r.input, r.output, mb(r.sizeIn), `${mb(r.sizeOut)} (${(r.sizeOut / r.sizeIn).toFixed(3)}x)`, `${mb(r.sizes.in.brotli)} → ${mb(r.sizes.out.brotli)}`,
    `${r.nodesQuantized}/${r.nodesQuantized + r.nodesSkipped}`, r.cosineSimilarity === null ? 'n/a' : `${r.cosineSimilarity.toFixed(6)} (${r.verification ? `${r.verification.samples} ${r.verification.inputs}` : '?'})`, cache, `${(r.durationMs / 1000).toFixed(1)} s`]
})
const head = ['model', 'emitted as', 'fp32', 'quantized', 'brotli fp32 → quantized', 'nodes quantized', 'cosine vs fp32 (on inputs)', 'cache', 'quantize time']
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')
console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n${rows.map(line).join('\n')}\n`)
if (rows.length === 0) {
  console.error('no .quant.json was emitted: the plugin quantized nothing')
  process.exit(1)
}
console.log(s.quantized === 0
  ? `vite build took ${seconds.toFixed(1)} s: every model came from the cache (node_modules/.cache/unplugin-quantize); "quantize time" is the original run's.`
  : `vite build took ${seconds.toFixed(1)} s, ${s.quantized} model(s) quantized. Run \`npm run demo\` again: the models come from the cache.`)
const rel = path.relative(process.cwd(), outDir) || '.'
console.log(`\nbuilt app: ${rel}/ (reports: ${rel}/assets/*.quant.json)\nview it:   npx vite preview examples/vite   (then open the printed URL)`)

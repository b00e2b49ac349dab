// The cost of a cache hit in the build plugins, per model, next to the cost of hashing its bytes:
// a cached build should do nothing but hash and copy (issue 3: <= 2x the time to hash the model).
// Both are measured interleaved in one process, several rounds, medians compared.
//   npx tsx bench/cache-hit.ts [--rounds 15]
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { resolveOptions } from '../plugins/core/options.js'
import { ModelQuantizer, newStats } from '../plugins/core/quantize-asset.js'
import { digestFile } from '../src/cache/hash.js'
import { MODELS } from './models.js'
import { writeResultsSection } from './results-section.js'
import { median } from './stats.js'
import { mark, ms, ratio, renderTable } from './table.js'

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '15' } } })
const rounds = Number(args.rounds)
const root = path.resolve(import.meta.dirname, '..')
const work = path.join(import.meta.dirname, '.out', 'cache-hit')
fs.rmSync(work, { recursive: true, force: true })
fs.mkdirSync(work, { recursive: true })

const quiet = { warn: (m: string) => console.warn(m), info: () => undefined }
const options = resolveOptions({ cacheDir: path.join(work, 'cache'), verify: false })
const rows: (string | number)[][] = []
let allMet = true
for (const m of MODELS) {
  // a model with a sibling cfg, as a user's project has it
  const model = path.join(work, `${m.id}.onnx`)
  fs.copyFileSync(path.join(root, m.path), model)
  fs.writeFileSync(`${model}.cfg`, '[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=8\n')
  const stats = newStats()
  const quantizer = new ModelQuantizer(options, work, quiet, stats)
  const first = await quantizer.process(model)
  if (first.kind !== 'quantized' || first.cached) throw new Error(`${m.id}: expected a first quantization`)
  const hit: number[] = []
  const hash: number[] = []
  for (let r = 0; r < rounds; r++) {
    let t = performance.now()
    const again = await quantizer.process(model)
    hit.push(performance.now() - t)
    if (again.kind !== 'quantized' || !again.cached || again.bytes.byteLength !== first.bytes.byteLength) throw new Error(`${m.id}: expected a cache hit`)
    t = performance.now()
    await digestFile(model)
    hash.push(performance.now() - t)
  }
  if (stats.quantized !== 1) throw new Error(`${m.id}: ${stats.quantized} quantizations, expected 1`)
  const r = median(hit) / median(hash)
  allMet &&= r <= 2
  rows.push([m.id, (fs.statSync(model).size / 2 ** 20).toFixed(2), ms(median(hash)), ms(median(hit)), ratio(r), mark(r <= 2)])
}

const table = renderTable(['model', 'MiB', 'hash its bytes (sha256), ms', 'cache hit (cfg, key, lookup, read), ms', 'hit / hash', '<= 2x'], rows)
console.log(table)
writeResultsSection('cache-hit', 'Cache hit cost in the build plugins (bench/cache-hit.ts)', `Measured by \`npx tsx bench/cache-hit.ts --rounds ${rounds}\` on ${new Date().toISOString()} (load average ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}): \`ModelQuantizer.process\` on a model whose entry is cached (reads the cfg, lists calibration files, hashes model and cfg into the key, reads and checks the entry) vs streaming sha256 of the model file alone, interleaved, medians of ${rounds} rounds. Every model quantized exactly once.

${table}

${allMet ? 'Every model meets the target.' : 'Not every model meets the target: see the rows marked ❌.'}

Where a hit's time goes (det, profiled by hand in one process): the key's sha256 of the model ≈ 1x the hash
column by definition; reading the entry (1.3 MB model + 0.8 MB report) and checking its checksums ≈ 0.4-0.7x;
parsing the 0.8 MB report (per-layer scales and the debug summary, needed for the HTML report) ≈ 0.4x; cfg
and calibration listing < 0.1x. On small models a fixed 1.5-2 ms of file opens dominates. Meeting 2x needs a
smaller report on the hit path (e.g. the HTML fragment cached with the entry), not a faster hash.`)
fs.rmSync(work, { recursive: true, force: true })

// `npm run bench`: weight quantization measured side by side in one run — quantization time vs
// the protobuf codec, peak RSS, fp32 vs quantized latency in onnxruntime-node, output cosine on
// realistic inputs and download sizes — for each model at 8 and 6 bit. Prints the summary table
// and writes bench/RESULTS.md.
//
// Options: --only <id,id>  only these models (ids in bench/models.ts)
//          --runs <n>      quantization timing rounds (default 5, plus 1 warm-up)
//          --rounds <n>    latency rounds per thread setting (default 31)
//          --out <file>    where to write the results (default bench/RESULTS.md)
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import ort from 'onnxruntime-node'
import { decodeModelProto } from '../src/onnx/codec.js'
import type { DownloadSizes } from '../src/report/sizes.js'
import type { Feeds } from '../src/runtime/feeds.js'
import { quantizeModel } from '../src/quantize-model.js'
import { compareOutputs, type Accuracy } from './accuracy.js'
import { GOALS, summarize, type GoalCheck } from './goals.js'
import { realisticFeeds } from './inputs.js'
import { THREAD_SETTINGS, compareLatency, type LatencyResult, type ThreadSetting } from './latency.js'
import { BIT_WIDTHS, MODELS, type BenchModel, type BitWidth, weightQuantCfg } from './models.js'
import { measurePeakRss, type PeakRss } from './peak-rss.js'
import { timeQuantization, type QuantTiming } from './quant-time.js'
import { WEIGHT_DOMINATED, downloadSizesAsync, floatWeightBytes } from './sizes.js'
import { MB } from './stats.js'
import { type Cell, fixed, mark, mb, ms, pct, ratio, renderTable } from './table.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    runs: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '31' },
    out: { type: 'string', default: path.join(here, 'RESULTS.md') },
  },
})
const only = args.only ? new Set(args.only.split(',')) : null
const models = MODELS.filter((m) => !only || only.has(m.id))
if (models.length === 0) throw new Error(`--only matched no model; ids: ${MODELS.map((m) => m.id).join(', ')}`)
const timingRuns = Number(args.runs)
const latencyRounds = Number(args.rounds)

ort.env.logLevel = 'error'

interface Prepared {
  model: BenchModel
  fp32: Uint8Array
  weightShare: number
  quantized: Map<BitWidth, Uint8Array>
  samples: Feeds[]
}

interface BitResult {
  timing: QuantTiming
  rss: PeakRss | null
  rssError: string | null
  accuracy: Accuracy
  sizes: DownloadSizes
  /** latency ratio vs fp32 per thread setting */
  latencyRatio: Map<ThreadSetting, number>
}

interface ModelResult {
  prepared: Prepared
  latency: Map<ThreadSetting, LatencyResult>
  fp32Sizes: DownloadSizes
  bits: Map<BitWidth, BitResult>
}

const log = (msg: string): void => {
  process.stderr.write(`[bench ${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`)
}
const t0 = performance.now()
const loadStart = os.loadavg()

// --- prepare: read, quantize once per bit width, render inputs ---------------------------------
const prepared: Prepared[] = []
for (const model of models) {
  log(`prepare ${model.id}`)
  const fp32 = new Uint8Array(fs.readFileSync(model.path))
  const weightShare = floatWeightBytes(decodeModelProto(fp32)) / fp32.byteLength
  const quantized = new Map<BitWidth, Uint8Array>()
  for (const bits of BIT_WIDTHS) quantized.set(bits, (await quantizeModel(fp32, weightQuantCfg(bits), { verify: false })).model)
  const samples = await realisticFeeds(model.inputs, decodeModelProto(fp32), model.samples)
  prepared.push({ model, fp32, weightShare, quantized, samples })
}

// --- phase 1: quantization time vs codec time (timing-sensitive: nothing else runs) ------------
const timings = new Map<string, Map<BitWidth, QuantTiming>>()
for (const p of prepared) {
  log(`quantization time ${p.model.id}`)
  timings.set(p.model.id, await timeQuantization(p.fp32, BIT_WIDTHS, timingRuns))
}

// --- phase 3: latency, fp32 / q8 / q6 interleaved per thread setting ---------------------------
const latencies = new Map<string, Map<ThreadSetting, LatencyResult>>()
for (const p of prepared) {
  const perThreads = new Map<ThreadSetting, LatencyResult>()
  for (const threads of THREAD_SETTINGS) {
    log(`latency ${p.model.id} threads=${threads}`)
    const variants = [p.fp32, ...BIT_WIDTHS.map((b) => p.quantized.get(b)!)]
    perThreads.set(threads, await compareLatency(variants, p.samples[0]!, threads, { warmup: 6, rounds: latencyRounds, budgetMs: 4000, maxRounds: 301, minSampleMs: 10 }))
  }
  latencies.set(p.model.id, perThreads)
}

// --- phase 4: output cosine on realistic inputs ------------------------------------------------
const accuracies = new Map<string, Accuracy[]>()
for (const p of prepared) {
  log(`accuracy ${p.model.id} (${p.samples.length} samples)`)
  accuracies.set(p.model.id, await compareOutputs(p.fp32, BIT_WIDTHS.map((b) => p.quantized.get(b)!), p.samples))
}

// --- phases 2 and 5 together: peak RSS children (not timing-sensitive) while brotli 11 runs ------
log('peak RSS (child processes) and sizes (brotli 11, thread pool)')
const sizeJobs = new Map<string, Promise<DownloadSizes>>()
for (const p of prepared) {
  sizeJobs.set(`${p.model.id}/fp32`, downloadSizesAsync(p.fp32))
  for (const b of BIT_WIDTHS) sizeJobs.set(`${p.model.id}/${b}`, downloadSizesAsync(p.quantized.get(b)!))
}
const rss = new Map<string, PeakRss | string>()
for (const p of prepared) {
  for (const b of BIT_WIDTHS) {
    log(`peak RSS ${p.model.id} ${b} bit`)
    try {
      rss.set(`${p.model.id}/${b}`, await measurePeakRss(p.model.path, b))
    } catch (err) {
      rss.set(`${p.model.id}/${b}`, (err as Error).message)
    }
  }
}
const sizes = new Map<string, DownloadSizes>()
for (const [key, job] of sizeJobs) sizes.set(key, await job)
log('sizes done')

// --- assemble --------------------------------------------------------------------------------
const results: ModelResult[] = prepared.map((p) => {
  const id = p.model.id
  const latency = latencies.get(id)!
  const bits = new Map<BitWidth, BitResult>()
  BIT_WIDTHS.forEach((b, i) => {
    const r = rss.get(`${id}/${b}`)!
    bits.set(b, {
      timing: timings.get(id)!.get(b)!,
      rss: typeof r === 'string' ? null : r,
      rssError: typeof r === 'string' ? r : null,
      accuracy: accuracies.get(id)![i]!,
      sizes: sizes.get(`${id}/${b}`)!,
      latencyRatio: new Map(THREAD_SETTINGS.map((t) => [t, latency.get(t)!.ratio[i + 1]!])),
    })
  })
  return { prepared: p, latency, fp32Sizes: sizes.get(`${id}/fp32`)!, bits }
})

function checks(m: ModelResult, bits: BitWidth, r: BitResult): GoalCheck[] {
  const file = m.prepared.fp32.byteLength
  const timeRatio = r.timing.fullMs / r.timing.codecMs
  const rssRatio = r.rss ? r.rss.delta / file : Number.NaN
  const worstLatency = Math.max(...r.latencyRatio.values())
  const cosGoal = GOALS.cosine(bits)
  const sizeRatio = r.sizes.raw / m.fp32Sizes.raw
  const weightDominated = m.prepared.weightShare >= WEIGHT_DOMINATED
  return [
    { name: 'time', ok: timeRatio <= GOALS.timeRatio, detail: `${ratio(timeRatio)} vs <= ${GOALS.timeRatio}x` },
    { name: 'rss', ok: r.rss ? rssRatio <= GOALS.rssRatio : false, detail: r.rss ? `${ratio(rssRatio)} vs <= ${GOALS.rssRatio}x` : (r.rssError ?? '') },
    { name: 'latency', ok: worstLatency <= GOALS.latencyRatio, detail: `worst ${fixed(worstLatency, 3)}x vs <= ${GOALS.latencyRatio}x` },
    { name: 'cosine', ok: r.accuracy.cosine >= cosGoal, detail: `${fixed(r.accuracy.cosine, 6)} vs >= ${cosGoal}` },
    {
      name: 'size',
      ok: bits === 8 && weightDominated ? sizeRatio <= GOALS.sizeRatio8 : null,
      detail: bits === 8 && weightDominated ? `${ratio(sizeRatio)} vs <= ${GOALS.sizeRatio8}x` : 'n/a',
    },
  ]
}

const cell = (c: GoalCheck | undefined, text: string): string => (c?.ok === null || c === undefined ? text : `${text} ${mark(c.ok)}`)

// --- the summary table -------------------------------------------------------------------------
const summaryRows: Cell[][] = []
const misses: string[] = []
for (const m of results) {
  for (const [bits, r] of m.bits) {
    const c = checks(m, bits, r)
    const by = (n: GoalCheck['name']): GoalCheck | undefined => c.find((x) => x.name === n)
    const file = m.prepared.fp32.byteLength
    for (const miss of c.filter((x) => x.ok === false)) misses.push(`${m.prepared.model.id} ${bits} bit — ${miss.name}: ${miss.detail}`)
    summaryRows.push([
      m.prepared.model.id,
      bits,
      mb(file),
      `${pct(m.prepared.weightShare)}${m.prepared.weightShare >= WEIGHT_DOMINATED ? ' W' : ''}`,
      ms(r.timing.codecMs),
      ms(r.timing.fullMs),
      cell(by('time'), ratio(r.timing.fullMs / r.timing.codecMs)),
      fixed(file / MB / (r.timing.fullMs / 1000), 1),
      cell(by('rss'), r.rss ? `${mb(r.rss.delta)} (${ratio(r.rss.delta / file)})` : 'error'),
      cell(by('latency'), THREAD_SETTINGS.map((t) => fixed(r.latencyRatio.get(t)!, 2)).join(' / ')),
      cell(by('cosine'), fixed(r.accuracy.cosine, 6)),
      cell(by('size'), ratio(r.sizes.raw / m.fp32Sizes.raw)),
      ratio(r.sizes.brotli / m.fp32Sizes.brotli),
      summarize(c),
    ])
  }
}
const summaryHeaders = ['model', 'bits', 'file MB', 'weights', 'codec ms', 'quantize ms', 'quant/codec', 'MB/s', 'peak RSS Δ MB (x file)',
  'latency q/fp32 def / 1T / 2T', 'cosine', 'raw q/fp32', 'brotli q/fp32', 'goals']
const summary = renderTable(summaryHeaders, summaryRows)

// --- detail tables -----------------------------------------------------------------------------
const timeTable = renderTable(
  ['model', 'bits', 'codec ms', 'core ms', 'quantizeModel ms', 'sizes+cfg ms', 'core/codec', 'full/codec', 'codec MB/s', 'quantize MB/s', 'runs'],
  results.flatMap((m) => [...m.bits].map(([bits, r]): Cell[] => {
    const fileMb = m.prepared.fp32.byteLength / MB
    const t = r.timing
    return [m.prepared.model.id, bits, ms(t.codecMs), ms(t.coreMs), ms(t.fullMs), ms(t.fullMs - t.coreMs), ratio(t.coreMs / t.codecMs),
      ratio(t.fullMs / t.codecMs), fixed(fileMb / (t.codecMs / 1000), 0), fixed(fileMb / (t.fullMs / 1000), 1), t.runs]
  })),
)
const rssTable = renderTable(
  ['model', 'bits', 'file MB', 'baseline MB', 'peak MB', 'Δ MB', 'Δ / file', 'peak / file'],
  results.flatMap((m) => [...m.bits].map(([bits, r]): Cell[] => {
    const file = m.prepared.fp32.byteLength
    return r.rss
      ? [m.prepared.model.id, bits, mb(file), mb(r.rss.baseline), mb(r.rss.peak), mb(r.rss.delta), ratio(r.rss.delta / file), ratio(r.rss.peak / file)]
      : [m.prepared.model.id, bits, mb(file), 'error', r.rssError ?? '', '', '', '']
  })),
)
const latencyTable = renderTable(
  ['model', 'threads', 'fp32 ms', 'q8 ms', 'q6 ms', 'q8 / fp32', 'q6 / fp32', 'min q8 / fp32', 'min q6 / fp32', 'rounds x runs'],
  results.flatMap((m) => THREAD_SETTINGS.map((t): Cell[] => {
    const l = m.latency.get(t)!
    return [m.prepared.model.id, t, ms(l.medianMs[0]!), ms(l.medianMs[1]!), ms(l.medianMs[2]!),
      `${fixed(l.ratio[1]!, 3)} ${mark(l.ratio[1]! <= GOALS.latencyRatio)}`, `${fixed(l.ratio[2]!, 3)} ${mark(l.ratio[2]! <= GOALS.latencyRatio)}`,
      fixed(l.minRatio[1]!, 3), fixed(l.minRatio[2]!, 3), `${l.rounds} x ${l.perSample}`]
  })),
)
const accuracyTable = renderTable(
  ['model', 'bits', 'samples', 'cosine (min output, mean over samples)', 'worst sample', 'per output'],
  results.flatMap((m) => [...m.bits].map(([bits, r]): Cell[] => [
    m.prepared.model.id, bits, r.accuracy.samples, `${fixed(r.accuracy.cosine, 6)} ${mark(r.accuracy.cosine >= GOALS.cosine(bits))}`,
    fixed(r.accuracy.worst, 6), Object.entries(r.accuracy.outputs).map(([k, v]) => `${k}: ${fixed(v, 6)}`).join(', '),
  ])),
)
const sizesTable = renderTable(
  ['model', 'weights', 'variant', 'raw', 'gzip 9', 'brotli 11', 'raw / fp32', 'gzip / fp32', 'brotli / fp32'],
  results.flatMap((m) => {
    const f = m.fp32Sizes
    const share = `${pct(m.prepared.weightShare)}${m.prepared.weightShare >= WEIGHT_DOMINATED ? ' (weight-dominated)' : ''}`
    const rows: Cell[][] = [[m.prepared.model.id, share, 'fp32', f.raw, f.gzip, f.brotli, '', '', '']]
    for (const [bits, r] of m.bits) {
      const s = r.sizes
      const goal = bits === 8 && m.prepared.weightShare >= WEIGHT_DOMINATED ? ` ${mark(s.raw / f.raw <= GOALS.sizeRatio8)}` : ''
      rows.push(['', '', `${bits} bit`, s.raw, s.gzip, s.brotli, `${ratio(s.raw / f.raw)}${goal}`, ratio(s.gzip / f.gzip), ratio(s.brotli / f.brotli)])
    }
    return rows
  }),
)

// --- output --------------------------------------------------------------------------------------
console.log(summary)
if (misses.length) console.log(`\nGoals missed:\n${misses.map((x) => `- ${x}`).join('\n')}`)

const elapsed = (performance.now() - t0) / 1000
const loadEnd = os.loadavg()
const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' / ')
const md = `# unplugin-quantize benchmark

Generated by \`npm run bench\` (\`tsx bench/run.ts${process.argv.slice(2).length ? ` ${process.argv.slice(2).join(' ')}` : ''}\`) on ${new Date().toISOString()}.

| | |
|---|---|
| CPU | ${os.cpus()[0]?.model ?? 'unknown'} |
| cores | ${os.cpus().length} |
| memory | ${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB |
| OS | ${os.type()} ${os.release()} ${os.arch()} |
| Node | ${process.version} |
| onnxruntime-node | ${ort.env.versions.node ?? 'unknown'} (common ${ort.env.versions.common}) |
| load average 1/5/15 min | start ${load(loadStart)}, end ${load(loadEnd)} |
| duration | ${elapsed.toFixed(0)} s |

WEIGHT_QUANT via the cfg object \`{ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 | 6 } }\` (all other keys default).

## Summary

${summary}

Columns: **weights** = share of the file that is floating-point tensor data (W = weight-dominated, >= ${WEIGHT_DOMINATED * 100}%).
**codec ms** = protobuf decode + encode of the unchanged model; **quantize ms** = \`quantizeModel(bytes, cfg, { verify: false })\`;
both medians of ${timingRuns} interleaved runs after a warm-up. **MB/s** = file size / quantize time.
**peak RSS Δ** = peak RSS of a child process that quantizes once, minus its peak after imports.
**latency** = quantized / fp32 inference time in onnxruntime-node with default session options, intraOpNumThreads 1 and 2.
**cosine** = output cosine vs fp32 on realistic inputs (min over outputs of the mean over samples).
**raw / brotli q/fp32** = quantized file size / fp32 file size (brotli quality 11).

Goals: quantize/codec <= ${GOALS.timeRatio}x; peak RSS Δ <= ${GOALS.rssRatio}x the file; latency <= ${GOALS.latencyRatio}x at every thread setting;
cosine >= ${GOALS.cosine(8)} at 8 bit and >= ${GOALS.cosine(6)} at 6 bit; 8-bit file <= ${GOALS.sizeRatio8}x fp32 for weight-dominated models.

${misses.length ? `### Goals missed\n\n${misses.map((x) => `- ${x}`).join('\n')}\n` : 'All goals met.\n'}
## Quantization time

\`core\` = decode + \`quantizeWeights\` + encode (the rewrite alone); \`sizes+cfg\` = quantizeModel minus core, which is mostly the
raw/gzip/brotli-9 size report of input and output. Medians of ${timingRuns} runs interleaved codec, core 8, full 8, core 6, full 6, ... after one warm-up round.

${timeTable}

## Peak RSS

One child process per row: \`node --import tsx bench/peak-rss-child.ts <model> <bits>\`; quantizeModel(path, cfg, { verify: false }).
\`process.resourceUsage().maxRSS\` after imports (baseline) and after quantizing (peak).

${rssTable}

## Latency (onnxruntime-node, CPU)

Sessions for fp32, 8 bit and 6 bit created with the same options, 6 warm-up runs each, then at least ${latencyRounds} rounds
(more while a comparison stays under 4 s, at most 301) of fp32, q8, q6 in an order rotated every round; each timed sample runs
the model enough times to last >= 10 ms. Milliseconds are per inference, medians over rounds; the goal ratios are medians of
the per-round ratios. "min" ratios (fastest sample vs fastest sample) are a cross-check that other load on the machine
cannot inflate. Input: the first realistic sample.

${latencyTable}

## Accuracy on realistic inputs

det: rendered 640x640 text pages, ImageNet mean/std; rec: rendered 48x320 word crops, mean/std 0.5; cls: word crops resized to 48x192;
silero: [1, 512] frames of harmonics + noise (16 kHz), zero state, sr = 16000; openwakeword: generated inputs (seeded uniform).

${accuracyTable}

## Sizes (bytes)

${sizesTable}
`
fs.writeFileSync(args.out, md)
log(`wrote ${path.relative(process.cwd(), args.out)} in ${elapsed.toFixed(0)} s`)

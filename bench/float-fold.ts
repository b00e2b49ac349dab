// `npx tsx bench/float-fold.ts`: the exact float folding that runs before int8 quantization
// (src/quant/fold/), measured on its own: fp32 latency of the original vs the folded PP-OCR models
// in onnxruntime-node at 1 and 2 threads, side by side in one run, node counts, and how far the
// outputs moved. Writes the `float-fold` section of bench/RESULTS.md.
//
// One extra variant for det only, as an experiment: the folded graph with its opset import raised
// from 11 to 14 so that hard-swish becomes one HardSwish node instead of HardSigmoid + Mul. Every
// op det uses means the same at 11 and 14 (checked below against a list), so that variant is
// exact for det; it is measured to decide whether the library should ever raise opsets.
//
// Options: --rounds <n>  at least n latency rounds per thread setting (default 15)
import { parseArgs } from 'node:util'
import fs from 'node:fs'
import os from 'node:os'
import ort from 'onnxruntime-node'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { opsetVersion } from '../src/onnx/graph-walk.js'
import type { ModelProto } from '../src/onnx/onnx-types.js'
import { foldForInt8, type FoldReport } from '../src/quant/fold/fold-model.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { realisticFeeds } from './inputs.js'
import { compareLatency, type LatencyResult } from './latency.js'
import { MODELS } from './models.js'
import { writeResultsSection } from './results-section.js'
import { fixed, ms, renderTable } from './table.js'

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '15' } } })
const LATENCY = { warmup: 4, rounds: Number(args.rounds), budgetMs: 20_000, maxRounds: 200, minSampleMs: 30 }
const IDS = ['ppocr-v4-det', 'ppocr-v4-rec', 'ppocr-cls']
/** Ops whose definition did not change in meaning (only in accepted types) from opset 11 to 14. */
const SAME_FROM_11_TO_14 = new Set(['Constant', 'Add', 'Mul', 'Div', 'Sub', 'Conv', 'ConvTranspose', 'Clip', 'Relu', 'Sigmoid',
  'GlobalAveragePool', 'HardSigmoid', 'Concat', 'BatchNormalization', 'Resize'])

ort.env.logLevel = 'error'

function nodeCount(m: ModelProto): number {
  return m.graph?.node?.length ?? 0
}

function withOpset14(bytes: Uint8Array): Uint8Array | null {
  const m = decodeModelProto(bytes)
  if (opsetVersion(m) !== 11) return null
  if (!(m.graph?.node ?? []).every((n) => !n.domain && SAME_FROM_11_TO_14.has(n.op_type ?? ''))) return null
  for (const o of m.opset_import ?? []) if (!o.domain || o.domain === 'ai.onnx') o.version = 14
  const report = foldForInt8(m)
  if (report.hardSwish === 0) return null
  return encodeModelProto(m)
}

interface Row {
  id: string
  nodes: [number, number]
  report: FoldReport
  cosine: number
  maxAbsDiff: number
  latency: Map<number, LatencyResult>
  opset14: boolean
}

const loadBefore = os.loadavg()[0]!
const rows: Row[] = []
for (const id of IDS) {
  const spec = MODELS.find((m) => m.id === id)!
  const original = new Uint8Array(fs.readFileSync(spec.path))
  const model = decodeModelProto(original)
  const before = nodeCount(model)
  const report = foldForInt8(model)
  const folded = encodeModelProto(model)
  const experiment = withOpset14(original)
  const variants = experiment ? [original, folded, experiment] : [original, folded]
  const samples = await realisticFeeds(spec.inputs, decodeModelProto(original), spec.samples)
  const cmp = await compareModels(original, folded, samples)
  const latency = new Map<number, LatencyResult>()
  for (const threads of [1, 2] as const) {
    latency.set(threads, await compareLatency(variants, samples[0]!, threads, LATENCY))
    const r = latency.get(threads)!
    console.log(`${id} ${threads} thread(s): ${r.medianMs.map(ms).join(' / ')} ms, ratio ${r.ratio.map((x) => fixed(x, 3)).join(' / ')} (${r.rounds} rounds)`)
  }
  rows.push({ id, nodes: [before, nodeCount(model)], report, cosine: cmp.cosine, maxAbsDiff: Math.max(...cmp.outputs.map((o) => o.maxAbsDiff)), latency, opset14: experiment !== null })
}

const lat = (r: Row, threads: number, i: number): string => {
  const l = r.latency.get(threads)!
  return i < l.ratio.length ? `${ms(l.medianMs[i]!)} ms (${fixed(l.ratio[i]!, 2)}x, min ${fixed(l.minRatio[i]!, 2)}x)` : '–'
}
const table = renderTable(
  ['model', 'nodes', 'BN', 'affines', 'hard-swish', 'cosine', 'max abs diff', 'fp32 1 thread', 'folded 1 thread', 'fp32 2 threads', 'folded 2 threads'],
  rows.map((r) => [r.id, `${r.nodes[0]} → ${r.nodes[1]}`, r.report.batchNorms, r.report.affines, r.report.hardSwish, fixed(r.cosine, 9), r.maxAbsDiff.toExponential(1),
    lat(r, 1, 0), lat(r, 1, 1), lat(r, 2, 0), lat(r, 2, 1)]),
)
const det = rows.find((r) => r.opset14)
const experiment = det
  ? `Experiment (${det.id}, opset import raised 11 → 14 by hand, exact for its ops): one HardSwish node per chain instead of HardSigmoid + Mul: `
    + `1 thread ${lat(det, 1, 2)}, 2 threads ${lat(det, 2, 2)} of the original fp32.`
  : ''
const body = `Command: \`npx tsx bench/float-fold.ts\` (onnxruntime-node, fp32, realistic inputs; det 640x640, rec 48x320, cls 48x192).
Latency: median ms per inference, and in brackets the median over interleaved rounds of
folded / original (and the ratio of the fastest samples), measured side by side in one process.
Load average on the ${os.cpus().length} cores: ${fixed(loadBefore, 1)} at the start, ${fixed(os.loadavg()[0]!, 1)} at the end
(other work inflates the milliseconds; the interleaved ratios are what to read).

${table}

${experiment}

Notes from the fold: ${[...new Set(rows.flatMap((r) => r.report.notes.map((n) => `${r.id}: ${n}`)))].join('; ')}.`
writeResultsSection('float-fold', 'Float folding before int8 (fp32 effect)', body)
console.log(`\n${body}`)

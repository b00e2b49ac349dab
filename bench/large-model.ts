// `npm run bench:large`: a model over protobuf's 2 GiB limit, stored with ONNX external data, is
// quantized in a child process (time, peak RSS above its post-import baseline) and both models
// are run in onnxruntime-node side by side. Replaces the "Large model" section of RESULTS.md.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { encodeModelProto } from '../src/onnx/codec.js'
import { DataType, type TensorProto } from '../src/onnx/onnx-types.js'
import { cosineSimilarity } from '../src/runtime/cosine.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { writeResultsSection } from './results-section.js'

const here = import.meta.dirname
const dir = path.join(here, '.out', 'large')
const WIDTH = 4096
const LAYERS = 34 // 34 x 64 MiB = 2.13 GiB of float weights
const modelPath = path.join(dir, 'large.onnx')
const outPath = path.join(dir, 'large.quant.onnx')

function writeModel(): number {
  fs.mkdirSync(dir, { recursive: true })
  const dataName = 'large.onnx.data'
  const fd = fs.openSync(path.join(dir, dataName), 'w')
  const bytesPer = WIDTH * WIDTH * 4
  const values = new Float32Array(WIDTH * WIDTH)
  const initializers: TensorProto[] = []
  const rand = seededRandom(2026)
  // uniform with variance 1/WIDTH keeps the activation scale through the chain
  const amp = Math.sqrt(3 / WIDTH)
  for (let l = 0; l < LAYERS; l++) {
    for (let i = 0; i < values.length; i++) values[i] = (rand() * 2 - 1) * amp
    fs.writeSync(fd, new Uint8Array(values.buffer), 0, bytesPer, l * bytesPer)
    initializers.push({
      name: `w${l}`, data_type: DataType.FLOAT, dims: [WIDTH, WIDTH], data_location: 1,
      external_data: [{ key: 'location', value: dataName }, { key: 'offset', value: String(l * bytesPer) }, { key: 'length', value: String(bytesPer) }],
    })
  }
  fs.closeSync(fd)
  const nodes = Array.from({ length: LAYERS }, (_, l) => ({ name: `mm${l}`, op_type: 'MatMul', input: [l === 0 ? 'x' : `h${l - 1}`, `w${l}`], output: [l === LAYERS - 1 ? 'y' : `h${l}`] }))
  const model = encodeModelProto({
    ir_version: 8, opset_import: [{ domain: '', version: 17 }], producer_name: 'unplugin-quantize bench',
    graph: {
      name: 'large', node: nodes, initializer: initializers,
      input: [{ name: 'x', type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: [{ dim_value: 1 }, { dim_value: WIDTH }] } } } }],
      output: [{ name: 'y', type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: [{ dim_value: 1 }, { dim_value: WIDTH }] } } } }],
    },
  })
  fs.writeFileSync(modelPath, model)
  return model.byteLength + LAYERS * bytesPer
}

const fileBytes = writeModel()
console.log(`wrote ${modelPath}: ${(fileBytes / 2 ** 30).toFixed(2)} GiB with external data`)
// `sh -c` so the child's maxRSS starts from its own, not this process's, high-water mark
const child = spawnSync('/bin/sh', ['-c', '"$0" --import tsx "$1" "$2" "$3"; exit $?', process.execPath, path.join(here, 'large-model-child.ts'), modelPath, outPath], { encoding: 'utf8', maxBuffer: 1 << 20 })
if (child.status !== 0) throw new Error(`quantization child failed: ${child.stderr}`)
const r = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { baseline: number; peak: number; quantizeMs: number; layers: number; sizeOut: number }
const outBytes = fs.statSync(outPath).size + fs.statSync(`${outPath}.data`).size

const rand = seededRandom(7)
const x = new ort.Tensor('float32', Float32Array.from({ length: WIDTH }, () => rand() * 2 - 1), [1, WIDTH])
const run = async (p: string): Promise<{ y: Float32Array; ms: number }> => {
  const s = await ort.InferenceSession.create(p, { intraOpNumThreads: 1 })
  await s.run({ x })
  const t = performance.now()
  const y = (await s.run({ x })).y!.data as Float32Array
  const ms = performance.now() - t
  await s.release()
  return { y, ms }
}
const a = await run(modelPath)
const b = await run(outPath)
const cosine = cosineSimilarity(a.y, b.y)
const rssDelta = r.peak - r.baseline
const rows = [
  ['model', `${LAYERS} MatMul ${WIDTH}x${WIDTH}, external data`],
  ['file (model + data)', `${(fileBytes / 2 ** 30).toFixed(2)} GiB`],
  ['quantized (model + data)', `${(outBytes / 2 ** 30).toFixed(3)} GiB (${(outBytes / fileBytes).toFixed(3)}x)`],
  ['weights quantized', String(r.layers)],
  ['quantize time', `${(r.quantizeMs / 1000).toFixed(1)} s (${(fileBytes / 2 ** 20 / (r.quantizeMs / 1000)).toFixed(0)} MiB/s)`],
  ['peak RSS above baseline', `${(rssDelta / 2 ** 30).toFixed(2)} GiB (${(rssDelta / fileBytes).toFixed(2)}x the file; goal <= 2.5x) ${rssDelta / fileBytes <= 2.5 ? '✅' : '❌'}`],
  ['output cosine vs fp32', cosine.toFixed(6)],
  ['latency q/fp32, 1 thread', `${(b.ms / a.ms).toFixed(2)} (${b.ms.toFixed(1)} / ${a.ms.toFixed(1)} ms)`],
]
const table = ['| | |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n')
console.log(table)
writeResultsSection('large-model', 'Large model (over 2 GiB, external data)', `Generated by \`npm run bench:large\` on ${new Date().toISOString()}.\n\n${table}`)
fs.rmSync(dir, { recursive: true, force: true })

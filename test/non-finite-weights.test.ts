// A weight holding NaN or an infinity cannot become integer codes: in every mode it stays float
// with the reason, the rest of the model is quantized as usual, and nothing of it is invented.
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { quantizeModel } from '../src/index.js'
import { decodeModelProto } from '../src/onnx/codec.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { makeTensor, tensorToFloat32 } from '../src/onnx/tensor-data.js'
import { cosineSimilarity } from '../src/runtime/cosine.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'

const N = 64

/** x [4, 64] read by two MatMul + Relu branches: 'bad' (a NaN and an infinity in its 64x64 weight) and 'good'. */
function twoBranches(): Uint8Array {
  const bad = randomTensor('w_bad', [N, N], 1)
  const values = tensorToFloat32(bad).slice()
  values[5] = Number.NaN
  values[N * 7 + 3] = Number.POSITIVE_INFINITY
  return buildModel({
    opset: 13,
    // a Relu after each: DYNAMIC_QUANT keeps a MatMul that is the model's output head float
    nodes: [node('MatMul', ['x', 'w_bad'], ['m_bad']), node('Relu', ['m_bad'], ['y_bad']), node('MatMul', ['x', 'w_good'], ['m_good']), node('Relu', ['m_good'], ['y_good'])],
    initializers: [makeTensor('w_bad', DataType.FLOAT, [N, N], values), randomTensor('w_good', [N, N], 2)],
    inputs: [valueInfo('x', DataType.FLOAT, [4, N])],
    outputs: [valueInfo('y_bad', DataType.FLOAT, [4, N]), valueInfo('y_good', DataType.FLOAT, [4, N])],
  })
}

const feeds = (seed: number): Record<string, ort.Tensor> => {
  const rand = seededRandom(seed)
  return { x: new ort.Tensor('float32', Float32Array.from({ length: 4 * N }, () => rand() * 2 - 1), [4, N]) }
}

async function outputs(model: Uint8Array, seed: number): Promise<Record<string, Float32Array>> {
  const s = await ort.InferenceSession.create(model, { logSeverityLevel: 3 })
  try {
    const out = await s.run(feeds(seed))
    return { y_bad: out.y_bad!.data as Float32Array, y_good: out.y_good!.data as Float32Array }
  } finally {
    await s.release()
  }
}

const initializer = (model: Uint8Array, name: string) => decodeModelProto(model).graph!.initializer!.find((t) => t.name === name)

describe('weights holding NaN or ±Infinity', () => {
  const float = twoBranches()
  const cases = [
    ['WEIGHT_QUANT 8 bit', { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } }],
    ['WEIGHT_QUANT mixed bit', { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 0 } }],
    ['DYNAMIC_QUANT', { common_quant_param: { quant_type: 'DYNAMIC_QUANT', bit_num: 8 } }],
    ['FULL_QUANT', { common_quant_param: { quant_type: 'FULL_QUANT', bit_num: 8 } }],
  ] as const
  for (const [label, cfg] of cases) {
    it(`${label}: stays float with the reason; the other weight is quantized and runs close to fp32`, async () => {
      const samples = [1, 2, 3, 4].map(feeds)
      const { model, report } = await quantizeModel(float, cfg, { sizes: false, samples })
      // the weight is the float model's, byte for byte
      expect(initializer(model, 'w_bad')?.raw_data).toEqual(initializer(float, 'w_bad')!.raw_data)
      if (label === 'FULL_QUANT') {
        expect(report.full!.floatNodes).toContainEqual({ name: 'MatMul_m_bad', opType: 'MatMul', why: 'its weight holds NaN or ±Infinity' })
        expect(report.full!.quantizedNodes.map((n) => n.name)).toEqual(['MatMul_m_good'])
      } else {
        expect(report.skipped).toContainEqual(expect.objectContaining({ tensor: 'w_bad', reason: 'NaN or ±Infinity in its values' }))
        expect(report.warnings).toContain("1 weight(s) hold NaN or ±Infinity and stay float: 'w_bad' (element 5)")
        // DYNAMIC_QUANT lists its int8 MatMuls apart from the weight-only layers
        if (label === 'DYNAMIC_QUANT') expect(report.dynamic!.int8.map((n) => n.tensor)).toEqual(['w_good'])
        else expect(report.layers.map((l) => l.tensor)).toEqual(['w_good'])
      }
      // the same NaNs and infinities where the float model has them; the other output close to fp32
      const [f, q] = await Promise.all([outputs(float, 9), outputs(model, 9)])
      expect(Array.from(q.y_bad!, (v) => (Number.isFinite(v) ? 0 : String(v)))).toEqual(Array.from(f.y_bad!, (v) => (Number.isFinite(v) ? 0 : String(v))))
      expect(cosineSimilarity(f.y_good!, q.y_good!)).toBeGreaterThan(0.999)
    })
  }
})

import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { DataType, type TensorProto } from '../src/onnx/onnx-types.js'
import { makeTensor } from '../src/onnx/tensor-data.js'
import { halfScalePower, halfScales, roundToHalf } from '../src/quant/half-scales.js'
import { decodedValues, encodeWeight, planWeights } from '../src/quant/weight-quant.js'
import { quantizeModel } from '../src/quantize-model.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { buildModel, node, valueInfo } from './helpers/build-model.js'

// Up to 8 bits the per-channel scales are stored as float16 (times a power of two shared by the
// tensor) and cast back to float at load; the decode onnxruntime folds must still be exactly the
// values the engine measured its error and escalation on.

const ROWS = 64
const DIM = 32
const run = { verify: false, accuracyTarget: false, sizes: false } as const
const cfg = (bits: number) => ({ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: bits, min_quant_weight_channel: 0 } })

/** A Gather table (one channel a row) whose rows span 1e-40 to 10, plus an all-zero row. */
function table(): Float32Array {
  const rand = seededRandom(5)
  const out = new Float32Array(ROWS * DIM)
  for (let r = 0; r < ROWS; r++) {
    // rows 0-59 from 10 down to about 1e-7; row 60 dead but not zero (1e-40); row 61 zero
    const size = r === 60 ? 1e-40 : r === 61 ? 0 : 10 * 10 ** (-r / 7.5)
    for (let i = 0; i < DIM; i++) out[r * DIM + i] = (rand() * 2 - 1) * size
  }
  return out
}

function tableModel(values: Float32Array): Uint8Array {
  const t: TensorProto = makeTensor('table', DataType.FLOAT, [ROWS, DIM], values)
  return buildModel({
    nodes: [node('Gather', ['table', 'ids'], ['rows'], { axis: 0 })],
    initializers: [t],
    inputs: [valueInfo('ids', DataType.INT64, [ROWS])],
    outputs: [valueInfo('rows', DataType.FLOAT, [ROWS, DIM])],
  })
}

async function decodedInOrt(model: Uint8Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { logSeverityLevel: 3 })
  const ids = new ort.Tensor('int64', BigInt64Array.from({ length: ROWS }, (_, i) => BigInt(i)), [ROWS])
  const out = (await session.run({ ids })).rows!.data as Float32Array
  await session.release()
  return out
}

function storedTypes(model: Uint8Array): Map<string, number> {
  return new Map((decodeModelProto(model).graph?.initializer ?? []).map((t) => [t.name ?? '', t.data_type ?? 0]))
}

describe('float16 scales', () => {
  it('round to float16 in its normal range, small scales through a shared power of two', () => {
    expect(halfScalePower(Float32Array.of(0.5, 1e-3, 7e-5))).toBe(1)
    const small = Float32Array.of(3e-3, 1e-6, 2.5e-9)
    const power = halfScalePower(small)
    expect(Number.isInteger(Math.log2(power))).toBe(true)
    expect(3e-3 / power).toBeLessThanOrEqual(65504)
    expect(3e-3 / power).toBeGreaterThan(65504 / 2)
    const rounded = Float32Array.from(small, (s) => roundToHalf(s, power))
    for (let c = 0; c < small.length; c++) expect(Math.abs(rounded[c]! / small[c]! - 1)).toBeLessThanOrEqual(2 ** -11)
    const half = halfScales(rounded)!
    expect(half.power).toBe(power)
    expect(Array.from(half.bits, (h, c) => roundToHalf(rounded[c]!, power) === rounded[c] && h > 0)).toEqual([true, true, true])
    // a scale float16 cannot hold exactly is not passed off as one
    expect(halfScales(Float32Array.of(0.1))).toBeNull()
  })

  it('an 8-bit table decodes in onnxruntime to exactly the engine values, dead and zero rows to zero', async () => {
    const values = table()
    const float = tableModel(values)
    const { model, report } = await quantizeModel(float, cfg(8), run)
    expect(report.layers.map((l) => l.tensor)).toEqual(['table'])
    const types = storedTypes(model)
    expect(types.get('table_scale16')).toBe(DataType.FLOAT16)
    expect(types.has('table_scale')).toBe(false)
    expect(types.get('table_scale_power')).toBe(DataType.FLOAT) // rows down to 1e-7 need one
    const plan = planWeights(decodeModelProto(float), undefined, { bits: 8, minQuantWeightSize: 0, minQuantWeightChannel: 0, skipQuantNode: [] })
    const expected = decodedValues(plan.planned[0]!, encodeWeight(plan.planned[0]!, 8))
    const got = await decodedInOrt(model)
    expect(Array.from(got)).toEqual(Array.from(expected))
    expect(got.every(Number.isFinite)).toBe(true)
    for (const r of [60, 61]) expect(Array.from(got.subarray(r * DIM, (r + 1) * DIM)).every((v) => v === 0)).toBe(true)
    // each live row keeps 8-bit precision of its own range: float16 took nothing from it
    for (let r = 0; r < 60; r++) {
      let max = 0
      let err = 0
      for (let i = r * DIM; i < (r + 1) * DIM; i++) {
        max = Math.max(max, Math.abs(values[i]!))
        err = Math.max(err, Math.abs(got[i]! - values[i]!))
      }
      expect(err / max, `row ${r}`).toBeLessThan(1.5 / 255)
    }
  })

  it('wider codes keep float32 scales, where float16 would be felt against their finer steps', async () => {
    const float = tableModel(table())
    const types = storedTypes((await quantizeModel(float, cfg(12), run)).model)
    expect(types.get('table_scale')).toBe(DataType.FLOAT)
    expect(types.has('table_scale16')).toBe(false)
  })
})

import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { AttributeType, DataType, type NodeProto, type TensorProto } from '../src/onnx/onnx-types.js'
import { halfToFloat } from '../src/onnx/float16.js'
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
    // skewed (-0.2 to 1 of the size), so that zero points sit far from the mean code
    for (let i = 0; i < DIM; i++) out[r * DIM + i] = (rand() * 1.2 - 0.2) * size
  }
  return out
}

/** The table as an initializer, or (as PaddleOCR stores weights) as a Constant node. */
function tableModel(values: Float32Array, asConstant = false): Uint8Array {
  const t: TensorProto = makeTensor('table', DataType.FLOAT, [ROWS, DIM], values)
  const gather = node('Gather', ['table', 'ids'], ['rows'], { axis: 0 })
  const constant: NodeProto = { op_type: 'Constant', input: [], output: ['table'], attribute: [{ name: 'value', type: AttributeType.TENSOR, t }] }
  return buildModel({
    nodes: asConstant ? [constant, gather] : [gather],
    initializers: asConstant ? [] : [t],
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
  const graph = decodeModelProto(model).graph
  const tensors = [...(graph?.initializer ?? []), ...(graph?.node ?? []).flatMap((n) => n.attribute?.find((a) => a.name === 'value')?.t ?? [])]
  return new Map(tensors.map((t) => [t.name ?? '', t.data_type ?? 0]))
}

/** The engine's decode of the table at `bits`, with its per-row scales. */
function engineDecode(float: Uint8Array, bits: number) {
  const plan = planWeights(decodeModelProto(float), undefined, { bits, minQuantWeightSize: 0, minQuantWeightChannel: 0, skipQuantNode: [] })
  const enc = encodeWeight(plan.planned[0]!, bits)
  return { values: decodedValues(plan.planned[0]!, enc), scale: enc.params.scale }
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
    // what Cast(float16) * power computes in float32 is the rounded scale itself
    expect(Array.from(half.bits, (h) => Math.fround(Math.fround(halfToFloat(h)) * power))).toEqual(Array.from(rounded))
    // a tensor of nothing but ~1e-42 scales: the power stays a float32 normal, so it is stored as is
    const tiny = halfScalePower(Float32Array.of(1e-42, 5e-43))
    expect(Math.fround(tiny)).toBe(tiny)
    expect(tiny).toBeGreaterThan(0)
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
    const expected = engineDecode(float, 8)
    const got = await decodedInOrt(model)
    expect(Array.from(got)).toEqual(Array.from(expected.values))
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
    // the zero point is derived from the rounded scale: each row's decoded mean is its float mean
    // (from the unrounded scale it would be off by up to 2^-11 of the zero point's distance from
    // the mean code, here about 90 codes)
    for (let r = 0; r < 60; r++) {
      let d = 0
      for (let i = r * DIM; i < (r + 1) * DIM; i++) d += got[i]! - values[i]!
      expect(Math.abs(d / DIM) / expected.scale[r]!, `row ${r}`).toBeLessThan(1e-4)
    }
  })

  it('scales already in float16 range need no power; weights in Constant nodes decode the same', async () => {
    const values = table()
    // rows 0-15 only (10 down to 0.1), repeated: every scale is a normal float16
    for (let r = 16; r < ROWS; r++) values.copyWithin(r * DIM, (r % 16) * DIM, (r % 16 + 1) * DIM)
    for (const asConstant of [false, true]) {
      const float = tableModel(values, asConstant)
      const { model } = await quantizeModel(float, cfg(8), run)
      const types = storedTypes(model)
      expect(types.get('table_scale16'), `constant: ${asConstant}`).toBe(DataType.FLOAT16)
      expect(types.has('table_scale_power')).toBe(false)
      expect(Array.from(await decodedInOrt(model))).toEqual(Array.from(engineDecode(float, 8).values))
    }
  })

  it('wider codes keep float32 scales, where float16 would be felt against their finer steps', async () => {
    const float = tableModel(table())
    const types = storedTypes((await quantizeModel(float, cfg(12), run)).model)
    expect(types.get('table_scale')).toBe(DataType.FLOAT)
    expect(types.has('table_scale16')).toBe(false)
  })
})

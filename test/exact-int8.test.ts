// int8 models are measured as their ops define them, on every CPU: onnxruntime-node's int8
// kernels saturate 16-bit pair sums on x86 CPUs without VNNI, so the engine's verification,
// FULL_QUANT's checks and the debug reports run Q/DQ pairs as float ops and MatMulInteger as a
// float MatMul (src/runtime/exact-int8.ts). These inputs are the extremes that saturate.
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { makeTensor } from '../src/onnx/tensor-data.js'
import { exactInt8Options, exactInt8Twin } from '../src/runtime/exact-int8.js'
import { buildModel, node, valueInfo } from './helpers/build-model.js'
import { INT8_SATURATES } from './helpers/int8-cpu.js'

const C = 64

/** x (all 1.0, quantized to uint8 255) through a QDQ 1x1 conv whose int8 weights are all 127. */
function qdqConv(): Uint8Array {
  return buildModel({
    opset: 13,
    nodes: [
      node('QuantizeLinear', ['x', 'xs', 'xz'], ['xq']),
      node('DequantizeLinear', ['xq', 'xs', 'xz'], ['xd']),
      node('DequantizeLinear', ['w', 'ws', 'wz'], ['wd']),
      node('Conv', ['xd', 'wd'], ['y']),
      node('QuantizeLinear', ['y', 'ys', 'yz'], ['yq']),
      node('DequantizeLinear', ['yq', 'ys', 'yz'], ['out']),
    ],
    initializers: [
      makeTensor('xs', DataType.FLOAT, [], Float32Array.of(1 / 255)),
      makeTensor('xz', DataType.UINT8, [], Uint8Array.of(0)),
      makeTensor('w', DataType.INT8, [C, C, 1, 1], new Int8Array(C * C).fill(127)),
      makeTensor('ws', DataType.FLOAT, [], Float32Array.of(1 / 127)),
      makeTensor('wz', DataType.INT8, [], Int8Array.of(0)),
      makeTensor('ys', DataType.FLOAT, [], Float32Array.of(64 / 255)),
      makeTensor('yz', DataType.UINT8, [], Uint8Array.of(0)),
    ],
    inputs: [valueInfo('x', DataType.FLOAT, [1, C, 2, 2])],
    outputs: [valueInfo('out', DataType.FLOAT, [1, C, 2, 2])],
  })
}

/** MatMulInteger of uint8 255s by int8 127s (K = 64), cast to float, as DYNAMIC_QUANT writes it. */
function matMulInteger(): Uint8Array {
  return buildModel({
    opset: 13,
    nodes: [
      node('DynamicQuantizeLinear', ['x'], ['a', 'as', 'az']),
      node('MatMulInteger', ['a', 'b', 'az'], ['y32']),
      node('Cast', ['y32'], ['y'], { to: DataType.FLOAT }),
    ],
    initializers: [makeTensor('b', DataType.INT8, [C, 8], new Int8Array(C * 8).fill(127))],
    inputs: [valueInfo('x', DataType.FLOAT, [1, C])],
    outputs: [valueInfo('y', DataType.FLOAT, [1, 8])],
  })
}

async function runOne(model: Uint8Array, options: ort.InferenceSession.SessionOptions, x: ort.Tensor, output: string): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(model, { logSeverityLevel: 3, ...options })
  try {
    return (await s.run({ x }))[output]!.data as Float32Array
  } finally {
    await s.release()
  }
}

describe('exact int8 measurement', () => {
  it('a QDQ conv runs as its ops define it: 64 x 255 x 127 summed, on any CPU', async () => {
    const x = new ort.Tensor('float32', new Float32Array(C * 4).fill(1), [1, C, 2, 2])
    const exact = await runOne(qdqConv(), exactInt8Options(), x, 'out')
    expect([...exact]).toEqual(new Array<number>(C * 4).fill(64))
    // onnxruntime's fused kernel: exact with VNNI, about half without (each pair sum clamps at 32767)
    const fused = await runOne(qdqConv(), {}, x, 'out')
    if (INT8_SATURATES) expect(fused[0]).toBeLessThan(40)
    else expect(fused[0]).toBeCloseTo(64, 0)
  })

  it('MatMulInteger is computed in float in the twin, exactly, and the twin keeps inputs and outputs', async () => {
    const bytes = matMulInteger()
    const twin = exactInt8Twin(bytes)
    const m = decodeModelProto(twin)
    expect(m.graph!.node!.some((n) => n.op_type === 'MatMulInteger')).toBe(false)
    expect(m.graph!.input!.map((i) => i.name)).toEqual(['x'])
    expect(m.graph!.output!.map((o) => o.name)).toEqual(['y'])
    // x = 1.0 everywhere quantizes to 255 with zero point 0
    const x = new ort.Tensor('float32', new Float32Array(C).fill(1), [1, C])
    expect([...(await runOne(twin, exactInt8Options(), x, 'y'))]).toEqual(new Array<number>(8).fill(255 * 127 * C))
    const kernel = await runOne(bytes, exactInt8Options(), x, 'y')
    if (INT8_SATURATES) expect(kernel[0]).toBeLessThan(255 * 127 * C * 0.6)
    else expect(kernel[0]).toBe(255 * 127 * C)
  })

  it('a model without MatMulInteger is returned as it is', () => {
    const bytes = qdqConv()
    expect(exactInt8Twin(bytes)).toBe(bytes)
  })
})

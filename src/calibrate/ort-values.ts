import type ort from 'onnxruntime-node'
import { halfsToFloats, halfToFloat } from '../onnx/float16.js'

/** A tensor's values as float32 (a view when they already are). */
export function tensorFloats(t: ort.Tensor): Float32Array {
  const data = t.data
  if (data instanceof Float32Array) return data
  if (t.type === 'float16' && data instanceof Uint16Array) return halfsToFloats(data)
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Float32Array.from(data, (v) => Number(v))
  if (Array.isArray(data)) throw new Error(`tensor of type ${t.type} has no numeric values`)
  return Float32Array.from(data as ArrayLike<number>)
}

/** The first value of a scalar or one-element tensor as a number. */
export function scalarOf(t: ort.Tensor): number {
  const v = (t.data as ArrayLike<number | bigint>)[0]
  if (v === undefined) return NaN
  if (t.type === 'float16') return halfToFloat(v as number)
  return Number(v)
}

/** The element count of the tensor a Shape output describes. */
export function elementCountOf(shape: ort.Tensor): number {
  let n = 1
  for (const d of shape.data as BigInt64Array) n *= Number(d)
  return n
}

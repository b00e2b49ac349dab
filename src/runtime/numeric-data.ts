import type ort from 'onnxruntime-node'
import { tensorFloats } from '../calibrate/ort-values.js'
import { halfsToFloats } from '../onnx/float16.js'

/**
 * A tensor's values as numbers, to compare outputs: 64-bit integers as float64 (so int64 and
 * float outputs are compared alike everywhere), float16 decoded from the bits onnxruntime-node
 * hands out as a Uint16Array, other typed arrays as they are, string tensors as NaN.
 */
export function numericData(t: ort.Tensor): ArrayLike<number> {
  const d = t.data
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float64Array.from(d, Number)
  if (Array.isArray(d)) return d.map(Number)
  if (t.type === 'float16' && d instanceof Uint16Array) return halfsToFloats(d)
  return d as ArrayLike<number>
}

const FLOAT_TYPES = new Set<string>(['float32', 'float16', 'float64'])

/** Whether onnxruntime's tensor type `type` holds floating-point values: the outputs a weight's effect is measured on. */
export function isFloatTensorType(type: string): boolean {
  return FLOAT_TYPES.has(type)
}

/**
 * A floating-point tensor's values as float32 (a view when they already are), null for integer,
 * bool and string tensors: a weight's effect is measured on the continuous outputs, where a
 * small change shows, not on class indices or flags that either flip or do not.
 */
export function floatOutputData(t: ort.Tensor): Float32Array | null {
  return isFloatTensorType(t.type) ? tensorFloats(t) : null
}

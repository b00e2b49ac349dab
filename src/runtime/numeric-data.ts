import type ort from 'onnxruntime-node'

/**
 * A tensor's values as numbers, to compare outputs: 64-bit integers as float64 (so int64 and
 * float outputs are compared alike everywhere), typed arrays as they are, string tensors as NaN.
 */
export function numericData(t: ort.Tensor): ArrayLike<number> {
  const d = t.data
  if (d instanceof BigInt64Array || d instanceof BigUint64Array) return Float64Array.from(d, Number)
  if (Array.isArray(d)) return d.map(Number)
  return d as ArrayLike<number>
}

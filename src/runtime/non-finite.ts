import type ort from 'onnxruntime-node'

/** Index of the first NaN or infinity in a float32/float64 tensor, -1 when none (or not those types). */
export function firstNonFinite(t: ort.Tensor): number {
  if (t.type !== 'float32' && t.type !== 'float64') return -1
  return firstNonFiniteIn(t.data as Float32Array | Float64Array)
}

/** Index of the first NaN or infinity among the values, -1 when none. */
export function firstNonFiniteIn(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) {
    // NaN fails every comparison, infinities fail this one
    if (!(Math.abs(values[i]!) <= Number.MAX_VALUE)) return i
  }
  return -1
}

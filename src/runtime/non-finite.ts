import type ort from 'onnxruntime-node'

/** Index of the first NaN or infinity in a float32/float64 tensor, -1 when none (or not those types). */
export function firstNonFinite(t: ort.Tensor): number {
  if (t.type !== 'float32' && t.type !== 'float64') return -1
  const d = t.data as Float32Array | Float64Array
  for (let i = 0; i < d.length; i++) {
    // NaN fails every comparison, infinities fail this one
    if (!(Math.abs(d[i]!) <= Number.MAX_VALUE)) return i
  }
  return -1
}

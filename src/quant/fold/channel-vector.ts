import type { ConstantValue } from './graph-index.js'

/**
 * The constant as one value per channel when broadcasting it against a tensor [N, C, spatial...]
 * of the given rank neither changes the tensor's shape nor varies along any axis but C: a scalar,
 * [C, 1, 1], [1, C, 1, 1] and the like. Null otherwise, or when a value is not finite.
 */
export function channelVector(c: ConstantValue | null, rank: number, channels: number): Float64Array | null {
  if (!c || c.dims.length > rank) return null
  const aligned = [...new Array<number>(rank - c.dims.length).fill(1), ...c.dims]
  for (let axis = 0; axis < rank; axis++) {
    const d = aligned[axis]!
    if (d !== 1 && !(axis === 1 && d === channels)) return null
  }
  if (!c.values.every(Number.isFinite)) return null
  const out = new Float64Array(channels)
  for (let k = 0; k < channels; k++) out[k] = c.values.length === 1 ? c.values[0]! : c.values[k]!
  return out
}

/** Per-channel statistics over a weight laid out as [outer, channels, inner] (see axisLayout). */

/** The smallest and largest value (0, 0 for an empty tensor). */
export function range(values: Float32Array): { min: number; max: number } {
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    if (v < min) min = v
    if (v > max) max = v
  }
  return values.length ? { min, max } : { min: 0, max: 0 }
}

/** Calls fn(index, channel) for every element, in memory order. */
export function forEachChannel(outer: number, channels: number, inner: number, fn: (index: number, channel: number) => void): void {
  for (let o = 0; o < outer; o++) {
    for (let c = 0; c < channels; c++) {
      const base = (o * channels + c) * inner
      for (let i = 0; i < inner; i++) fn(base + i, c)
    }
  }
}

/** Largest |value| of each channel. */
export function channelMaxAbs(values: Float32Array, outer: number, channels: number, inner: number): Float64Array {
  const out = new Float64Array(channels)
  forEachChannel(outer, channels, inner, (i, c) => {
    const a = Math.abs(values[i]!)
    if (a > out[c]!) out[c] = a
  })
  return out
}

/** max - min of the values, with 0 inside the range. */
export function spanOf(values: Float32Array): number {
  let min = 0
  let max = 0
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    if (v < min) min = v
    else if (v > max) max = v
  }
  return max - min
}

/** Root mean square of each channel; 1 for an all-zero channel (its codes are all 0 anyway). */
export function channelRms(values: Float32Array, outer: number, channels: number, inner: number): Float64Array {
  const sum = new Float64Array(channels)
  forEachChannel(outer, channels, inner, (i, c) => { sum[c]! += values[i]! * values[i]! })
  const n = outer * inner
  return sum.map((s) => (s > 0 ? Math.sqrt(s / n) : 1))
}

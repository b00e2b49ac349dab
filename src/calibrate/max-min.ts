/** Running global minimum and maximum of a tensor over calibration samples (MAX_MIN). */
export class MaxMinStat {
  min = Infinity
  max = -Infinity

  /** Fold a sample's already-reduced minimum and maximum in. */
  addExtremes(min: number, max: number): void {
    if (min < this.min) this.min = min
    if (max > this.max) this.max = max
  }

  /** Fold a sample's values in. NaN values are ignored. */
  add(data: ArrayLike<number>): void {
    const [min, max] = minMax(data)
    this.addExtremes(min, max)
  }
}

/** Minimum and maximum of the values (NaN ignored; [Infinity, -Infinity] when there are none). */
export function minMax(data: ArrayLike<number>): [number, number] {
  let min = Infinity
  let max = -Infinity
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!
    if (v < min) min = v
    if (v > max) max = v
  }
  return [min, max]
}

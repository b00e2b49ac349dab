/**
 * Rearrange `a[lo..hi]` so that a[k] holds the value a full sort would put there, everything
 * before it no larger and everything after it no smaller (Hoare selection, median of three).
 * O(n) on average: the outlier quantiles need two order statistics, not a sorted copy.
 */
export function selectInPlace(a: Float32Array, k: number, lo = 0, hi = a.length - 1): number {
  while (hi > lo) {
    const mid = (lo + hi) >>> 1
    // median of three as pivot, guarding against sorted and reversed inputs
    if (a[mid]! < a[lo]!) swap(a, mid, lo)
    if (a[hi]! < a[lo]!) swap(a, hi, lo)
    if (a[hi]! < a[mid]!) swap(a, hi, mid)
    const pivot = a[mid]!
    let i = lo
    let j = hi
    while (i <= j) {
      while (a[i]! < pivot) i++
      while (a[j]! > pivot) j--
      if (i <= j) {
        swap(a, i, j)
        i++
        j--
      }
    }
    if (k <= j) hi = j
    else if (k >= i) lo = i
    else return a[k]!
  }
  return a[k]!
}

function swap(a: Float32Array, i: number, j: number): void {
  const t = a[i]!
  a[i] = a[j]!
  a[j] = t
}

/**
 * The q-quantile (0 <= q <= 1) of the values with linear interpolation between order statistics
 * (position q * (n - 1), numpy's default). Reorders `scratch`, which must hold the values.
 */
export function quantileInPlace(scratch: Float32Array, q: number): number {
  const n = scratch.length
  if (n === 0) return NaN
  const pos = q * (n - 1)
  const k = Math.floor(pos)
  const lower = selectInPlace(scratch, k)
  const frac = pos - k
  if (frac === 0 || k + 1 >= n) return lower
  // after selection everything right of k is >= a[k]: the next order statistic is their minimum
  let next = Infinity
  for (let i = k + 1; i < n; i++) if (scratch[i]! < next) next = scratch[i]!
  return lower + frac * (next - lower)
}

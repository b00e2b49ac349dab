import { samplesSet } from '../../calibrate/calibration-set.js'
import { forEachExposedTensor } from '../../calibrate/exposed-tensors.js'
import type { Feeds } from '../../runtime/feeds.js'

/** An activation whose channel second moments are wanted: channels on axis 1 (Conv input) or on the last axis (MatMul / Gemm rows). */
export interface MomentRequest {
  tensor: string
  channels: number
  layout: 'channelsFirst' | 'channelsLast'
}

/** Second moments of one activation's channel vectors. */
export interface Moments {
  /** sum x x^T, row-major C x C */
  h: Float64Array
  channels: number
  /** vectors summed */
  count: number
}

/**
 * Uncentered second moments H = sum x x^T of each requested activation of the float model over
 * `samples`, where x is the channel vector at one position (Conv: every batch item and spatial
 * position; MatMul: every row). The activations are exposed by forEachExposedTensor (in runs of
 * bounded size) and each sample is folded into running sums, so memory is one C x C matrix per
 * activation whatever the number of samples. Row-major C x C. An activation whose shape does not
 * match its request is left out.
 */
export async function inputMoments(original: Uint8Array, requests: readonly MomentRequest[], samples: readonly Feeds[]): Promise<Map<string, Moments>> {
  const results = new Map<string, Moments>()
  if (requests.length === 0 || samples.length === 0) return results
  const wanted = new Map(requests.map((r) => [r.tensor, r]))
  const bad = new Set<string>()
  await forEachExposedTensor(original, [...wanted.keys()], samplesSet(samples), (name, data, dims) => {
    const r = wanted.get(name)!
    const c = r.channels
    const fits = r.layout === 'channelsFirst' ? dims.length >= 2 && dims[1] === c : dims[dims.length - 1] === c
    if (!fits) { bad.add(name); return }
    let m = results.get(name)
    if (!m) results.set(name, (m = { h: new Float64Array(c * c), channels: c, count: 0 }))
    if (r.layout === 'channelsFirst') m.count += accumulateChannelsFirst(m, data, dims, c)
    else m.count += accumulateRows(m, data, c)
  })
  for (const name of bad) results.delete(name)
  for (const { h, channels: c } of results.values()) {
    for (let i = 0; i < c; i++) for (let j = 0; j < i; j++) h[i * c + j] = h[j * c + i]!
  }
  return results
}

/** Adds x x^T over the positions of an [N, C, ...] tensor to the upper triangle of h; returns the vectors added. */
function accumulateChannelsFirst({ h }: Moments, data: Float32Array, dims: readonly number[], c: number): number {
  const n = dims[0]!
  const positions = data.length / (n * c)
  for (let b = 0; b < n; b++) {
    const off = b * c * positions
    for (let i = 0; i < c; i++) {
      const xi = off + i * positions
      for (let j = i; j < c; j++) {
        const xj = off + j * positions
        let s = 0
        for (let p = 0; p < positions; p++) s += data[xi + p]! * data[xj + p]!
        h[i * c + j]! += s
      }
    }
  }
  return n * positions
}

/** Adds x x^T over the rows of a [..., C] tensor to the upper triangle of h; returns the rows added. */
function accumulateRows({ h }: Moments, data: Float32Array, c: number): number {
  const rows = data.length / c
  for (let r = 0; r < rows; r++) {
    const off = r * c
    for (let i = 0; i < c; i++) {
      const xi = data[off + i]!
      if (xi === 0) continue
      const hi = i * c
      for (let j = i; j < c; j++) h[hi + j]! += xi * data[off + j]!
    }
  }
  return rows
}

import { HISTOGRAM_BINS, type SignedHistogram } from './histogram.js'

/** What a range leaves out of a tensor's histogram. */
export interface ClippedShare {
  /** Share of the non-zero values counted (the histogram leaves exact zeros out) that lie beyond the range, bins wholly outside it. */
  share: number
  /** The extent the values reached on each side, to the bin. */
  seenMin: number
  seenMax: number
}

/**
 * The share of a histogram's values a range [min, max] clips. A bin counts as clipped only when
 * it lies wholly outside, so a value within one bin width of an end is taken as kept: the share
 * of non-zero values never overstates.
 */
export function clippedShare(h: SignedHistogram, min: number, max: number): ClippedShare {
  const pos = h.side(true)
  const neg = h.side(false)
  let total = 0
  let clipped = 0
  let topPos = -1
  let topNeg = -1
  for (let b = 0; b < HISTOGRAM_BINS; b++) {
    const p = pos[b]!
    const n = neg[b]!
    total += p + n
    if (p > 0) topPos = b
    if (n > 0) topNeg = b
    const lowerEdge = b * h.width
    if (lowerEdge >= max) clipped += p
    if (lowerEdge >= -min) clipped += n
  }
  return { share: total > 0 ? clipped / total : 0, seenMin: -(topNeg + 1) * h.width, seenMax: (topPos + 1) * h.width }
}

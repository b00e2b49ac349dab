import { cosineSimilarity } from './cosine.js'

// The cosine of a single number is only its sign: an output of one element per sample (a
// wake-word score, a speech probability) compared sample by sample reads 1.000000 whatever the
// quantization did to it (openWakeWord's hello_deepa at 4 bit: 1.000000 per sample, 0.9937 over
// 64 held-out inputs, its score off by up to 0.45). Such an output is compared as one vector
// across the samples instead; every other output as the mean of its per-sample cosines. Like any
// cosine it does not see a common scale (scores all 0.85x as large read 1), and on one sample it
// is the sign again: verification reports each output's largest absolute difference beside it.

/** Whether an output of `elements` values a sample is compared across the samples (see above). */
export const comparedAcrossSamples = (elements: number): boolean => elements === 1

/** Sums of one output's values against the reference's, over the samples. */
interface Sums {
  samples: number
  /** per-sample cosines summed */
  cosines: number
  /** dot product and squared norms of the samples' values as one vector */
  dot: number
  ref: number
  got: number
  /** every sample so far had one element */
  single: boolean
}

/** Output cosine vs a reference, accumulated sample by sample (see the file comment). */
export class OutputCosines {
  private readonly sums = new Map<string, Sums>()

  /** Add one sample's values of output `name`, the reference's and the compared model's; returns their cosine on this sample. */
  add(name: string, ref: ArrayLike<number>, got: ArrayLike<number>): number {
    let s = this.sums.get(name)
    if (!s) this.sums.set(name, (s = { samples: 0, cosines: 0, dot: 0, ref: 0, got: 0, single: true }))
    const cosine = cosineSimilarity(ref, got)
    s.samples++
    s.cosines += cosine
    s.single &&= comparedAcrossSamples(ref.length)
    if (!s.single) return cosine
    // one element each: the sample's share of the across-samples dot product and norms
    const x = ref[0]!
    const y = got[0]!
    s.dot += x * y
    s.ref += x * x
    s.got += y * y
    return cosine
  }

  /** The output's cosine: over the samples' values as one vector when each sample had one, else the mean over samples. */
  cosine(name: string): number {
    const s = this.sums.get(name)
    if (!s || s.samples === 0) throw new RangeError(`no samples of output '${name}' were added`)
    if (!s.single) return s.cosines / s.samples
    // as cosineSimilarity: 1 when both are all zeros, 0 when one is
    if (s.ref === 0 || s.got === 0) return s.ref === s.got ? 1 : 0
    return s.dot / Math.sqrt(s.ref * s.got)
  }

  /** The outputs added, in the order first seen. */
  names(): string[] {
    return [...this.sums.keys()]
  }

  /** Whether output `name` is compared across the samples (each sample had one element). */
  acrossSamples(name: string): boolean {
    return this.sums.get(name)?.single ?? false
  }

  /** The least cosine over the outputs (the model-level figure), 1 when none was added. */
  least(): number {
    let least = 1
    for (const name of this.sums.keys()) least = Math.min(least, this.cosine(name))
    return least
  }
}

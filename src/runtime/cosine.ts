/** Cosine similarity of two equally long vectors; 1 when both are all zeros, 0 when one is. */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`cosine of vectors of different lengths (${a.length} vs ${b.length})`)
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    dot += x * y
    na += x * x
    nb += y * y
  }
  if (na === 0 && nb === 0) return 1
  if (na === 0 || nb === 0) return 0
  return dot / Math.sqrt(na * nb)
}

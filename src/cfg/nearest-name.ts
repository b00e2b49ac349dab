/** Levenshtein distance: insertions, deletions and substitutions each cost 1. */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  )
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
    }
  }
  return d[a.length][b.length]
}

/**
 * The candidate closest to `name`, or null when none is close enough to be a plausible typo
 * (a wild suggestion is worse than none). Case is ignored so `Quant_Type` finds `quant_type`;
 * ties go to the earlier candidate, which keeps suggestions in schema order.
 */
export function nearestName(name: string, candidates: Iterable<string>): string | null {
  const wanted = name.toLowerCase()
  const limit = Math.max(2, Math.floor(wanted.length / 3))
  let best: string | null = null
  let bestDistance = Infinity
  for (const candidate of candidates) {
    const distance = editDistance(wanted, candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return bestDistance <= limit ? best : null
}

/**
 * Up to `count` candidates close enough to be plausible typos of `name`, nearest first (for
 * node names, where several layers often differ by one digit).
 */
export function nearestNames(name: string, candidates: Iterable<string>, count = 3): string[] {
  const wanted = name.toLowerCase()
  const limit = Math.max(2, Math.floor(wanted.length / 3))
  const scored: { candidate: string; distance: number }[] = []
  for (const candidate of candidates) {
    const distance = editDistance(wanted, candidate.toLowerCase())
    if (distance <= limit) scored.push({ candidate, distance })
  }
  return scored.sort((a, b) => a.distance - b.distance).slice(0, count).map((s) => s.candidate)
}

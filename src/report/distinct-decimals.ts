/**
 * Two numbers with as many decimals (6 to 12) as it takes to tell them apart, so that a message
 * comparing cosines near 1 never reads "1.000000 vs 1.000000".
 */
export function distinctDecimals(a: number, b: number): [string, string] {
  let d = 6
  while (d < 12 && a.toFixed(d) === b.toFixed(d)) d++
  return [a.toFixed(d), b.toFixed(d)]
}

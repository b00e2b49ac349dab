/**
 * Values per tensor and sample the KL histograms are built from: larger tensors are read at a
 * stride. 2^16 values a sample, over a hundred samples, puts millions of values into 2048 bins;
 * bench/calibration.ts measures that the thresholds stay where full tensors put them.
 */
export const KL_SUBSAMPLE = 1 << 16

/**
 * The stride that keeps at most `cap` of `elements` values: a prime, so the kept values do not
 * line up with the power-of-two widths and channel counts of feature maps (a stride equal to a
 * row width would read one column only).
 */
export function strideFor(elements: number, cap = KL_SUBSAMPLE): number {
  if (elements <= cap) return 1
  let s = Math.ceil(elements / cap)
  while (!isPrime(s)) s++
  return s
}

function isPrime(n: number): boolean {
  if (n < 2) return false
  if (n % 2 === 0) return n === 2
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false
  return true
}

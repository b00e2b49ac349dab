/** A [K, N] weight as symmetric int8 codes with one scale per column (output channel). */
export interface ColumnInt8 {
  codes: Int8Array
  /** Per column: w ≈ codes * scale. */
  scale: Float32Array
  k: number
  n: number
  /** ||W - W_hat|| / ||W|| */
  relativeError: number
}

/**
 * Symmetric per-column int8 for MatMulInteger's B. The zero point is 0, so MatMulInteger needs
 * no B zero point (and ORT's DynamicQuantizeMatMul then skips the zero-point correction); codes
 * span [-127, 127] so that negating a code never overflows. `transposed` reads values stored
 * [N, K] (Gemm with transB=1) and writes codes in [K, N] order.
 */
export function quantizeColumnsInt8(values: Float32Array, k: number, n: number, transposed: boolean, multiplier = 1): ColumnInt8 {
  const at = transposed ? (r: number, c: number) => c * k + r : (r: number, c: number) => r * n + c
  const maxAbs = new Float64Array(n)
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < n; c++) {
      const v = Math.abs(values[at(r, c)]!)
      if (!(v <= maxAbs[c]!)) {
        if (!Number.isFinite(v)) throw new RangeError(`column ${c} holds a non-finite value`)
        maxAbs[c] = v
      }
    }
  }
  const scale = new Float32Array(n)
  const inv = new Float64Array(n)
  for (let c = 0; c < n; c++) {
    const s = maxAbs[c]! > 0 ? maxAbs[c]! / 127 : 1
    inv[c] = 1 / s
    // Gemm's alpha folds into the scale: alpha * (A B) = A (B * alpha)
    scale[c] = Math.fround(s * multiplier)
  }
  const codes = new Int8Array(k * n)
  let err = 0
  let norm = 0
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < n; c++) {
      const w = values[at(r, c)]!
      const q = Math.round(w * inv[c]!)
      codes[r * n + c] = q
      const d = w - q * (scale[c]! / multiplier)
      err += d * d
      norm += w * w
    }
  }
  return { codes, scale, k, n, relativeError: norm > 0 ? Math.sqrt(err / norm) : 0 }
}

/**
 * Error-feedback weight rounding (the GPTQ / OBQ scheme, Frantar et al. 2022) on a fixed
 * per-row grid w = (q - zeroPoint) * scale, q in [qmin, qmax].
 *
 * Nearest rounding minimizes ||W - W_q|| per weight; what the next layer sees is (W - W_q) x.
 * Given the input second moments H = sum x x^T, the columns of each output row are rounded one
 * at a time and each column's rounding error is pushed onto the columns not yet rounded through
 * the inverse of H, which lowers ||(W - W_q) X||^2 over the inputs. The grid (scale and zero
 * point of each row) is the one nearest rounding uses, so only the codes change.
 */

export interface ErrorFeedbackOptions {
  /** Dampening added to H's diagonal, as a fraction of its mean diagonal. @default 0.01 */
  damp?: number
}

/** A dense rows x cols weight (row-major; a row is one output channel) and its grid. */
export interface RowGrid {
  rows: number
  cols: number
  scale: Float32Array | Float64Array
  zeroPoint: Int32Array | Float32Array
  qmin: number
  qmax: number
}

/**
 * Codes for `weight` on `grid`. `hessian` is the cols x cols input second-moment matrix
 * (symmetric; only read). Inputs that never vary (zero diagonal) get nearest rounding.
 */
export function errorFeedbackCodes(weight: Float64Array, grid: RowGrid, hessian: Float64Array, options: ErrorFeedbackOptions = {}): Int32Array {
  const { rows, cols, qmin, qmax } = grid
  const u = inverseCholeskyUpper(hessian, cols, options.damp ?? 0.01)
  const codes = new Int32Array(rows * cols)
  const w = new Float64Array(cols)
  for (let r = 0; r < rows; r++) {
    const base = r * cols
    for (let j = 0; j < cols; j++) w[j] = weight[base + j]!
    const s = grid.scale[r]!
    const z = grid.zeroPoint[r]!
    const inv = s > 0 ? 1 / s : 0
    for (let i = 0; i < cols; i++) {
      let q = Math.round(w[i]! * inv) + z
      q = q < qmin ? qmin : q > qmax ? qmax : q
      codes[base + i] = q
      // U's diagonal is positive: the Cholesky factorization throws otherwise
      const e = (w[i]! - (q - z) * s) / u[i * cols + i]!
      if (e === 0) continue
      const row = i * cols
      for (let j = i + 1; j < cols; j++) w[j]! -= e * u[row + j]!
    }
  }
  return codes
}

/**
 * The upper Cholesky factor U of (H + lambda I)^-1 = U^T U, row-major n x n (only its upper
 * triangle is meaningful). Row i of U holds, scaled by U[i][i], how an error in column i is best
 * compensated by the later columns. Dead inputs (zero diagonal) get a unit diagonal so H stays
 * invertible; their U row then spreads nothing, as their off-diagonal moments are zero.
 *
 * Two n x n buffers worked in place, every inner loop along a row: at n = 2400 a fresh matrix
 * per step and column walks took 150 MB and 47 s, this 80 MB and 28 s.
 */
function inverseCholeskyUpper(hessian: Float64Array, n: number, damp: number): Float64Array {
  const a = Float64Array.from(hessian)
  let mean = 0
  for (let i = 0; i < n; i++) mean += a[i * n + i]! / n
  const lambda = damp * (mean > 0 ? mean : 1)
  for (let i = 0; i < n; i++) {
    if (!(a[i * n + i]! > 0)) {
      for (let j = 0; j < n; j++) { a[i * n + j] = 0; a[j * n + i] = 0 }
      a[i * n + i] = 1
    }
    a[i * n + i]! += lambda
  }
  // H = L L^T, so H^-1 = L^-T L^-1 = X^T X with X = L^-1; U is the transposed Cholesky factor of that
  choleskyInPlace(a, n)
  lowerInverseInPlace(a, n)
  const u = lowerGram(a, n)
  choleskyInPlace(u, n)
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) u[i * n + j] = u[j * n + i]!
  return u
}

/** The lower Cholesky factor of a symmetric positive definite matrix, over its lower triangle (read there). */
function choleskyInPlace(a: Float64Array, n: number): void {
  for (let j = 0; j < n; j++) {
    const rj = j * n
    let d = a[rj + j]!
    for (let k = 0; k < j; k++) d -= a[rj + k]! * a[rj + k]!
    if (!(d > 0)) throw new RangeError('input second moments are not positive definite after dampening')
    const dj = Math.sqrt(d)
    a[rj + j] = dj
    for (let i = j + 1; i < n; i++) {
      const ri = i * n
      let s = a[ri + j]!
      for (let k = 0; k < j; k++) s -= a[ri + k]! * a[rj + k]!
      a[ri + j] = s / dj
    }
  }
}

/**
 * The inverse X of a lower triangular L, over L's lower triangle, a row at a time: row i of X is
 * -(sum over k < i of L[i][k] X[k]) / L[i][i], added up row by row (each element's terms in the
 * same order as the textbook column recursion, so the result is the same to the bit).
 */
function lowerInverseInPlace(l: Float64Array, n: number): void {
  const acc = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const ri = i * n
    acc.fill(0, 0, i)
    for (let k = 0; k < i; k++) {
      const c = l[ri + k]!
      const rk = k * n
      for (let j = 0; j <= k; j++) acc[j]! -= c * l[rk + j]!
    }
    const d = l[ri + i]!
    for (let j = 0; j < i; j++) l[ri + j] = acc[j]! / d
    l[ri + i] = 1 / d
  }
}

/** The lower triangle of X^T X for a lower triangular X (read from its lower triangle), summed over X's rows in order. */
function lowerGram(x: Float64Array, n: number): Float64Array {
  const g = new Float64Array(n * n)
  for (let k = 0; k < n; k++) {
    const rk = k * n
    for (let i = 0; i <= k; i++) {
      const c = x[rk + i]!
      if (c === 0) continue
      const ri = i * n
      for (let j = 0; j <= i; j++) g[ri + j]! += c * x[rk + j]!
    }
  }
  return g
}

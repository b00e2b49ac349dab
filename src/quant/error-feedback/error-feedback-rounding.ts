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
 * The upper Cholesky factor U of (H + lambda I)^-1 = U^T U, row-major n x n. Row i of U holds,
 * scaled by U[i][i], how an error in column i is best compensated by the later columns. Dead
 * inputs (zero diagonal) get a unit diagonal so H stays invertible; their U row then spreads
 * nothing, as their off-diagonal moments are zero.
 */
function inverseCholeskyUpper(hessian: Float64Array, n: number, damp: number): Float64Array {
  const h = Float64Array.from(hessian)
  let mean = 0
  for (let i = 0; i < n; i++) mean += h[i * n + i]! / n
  const lambda = damp * (mean > 0 ? mean : 1)
  for (let i = 0; i < n; i++) {
    if (!(h[i * n + i]! > 0)) {
      for (let j = 0; j < n; j++) { h[i * n + j] = 0; h[j * n + i] = 0 }
      h[i * n + i] = 1
    }
    h[i * n + i]! += lambda
  }
  // H = L L^T, so H^-1 = L^-T L^-1; then the Cholesky factor of that
  const li = lowerInverse(cholesky(h, n), n)
  const inv = new Float64Array(n * n)
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0
      for (let k = i; k < n; k++) s += li[k * n + i]! * li[k * n + j]!
      inv[i * n + j] = s
      inv[j * n + i] = s
    }
  }
  const c = cholesky(inv, n)
  const upper = new Float64Array(n * n)
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) upper[i * n + j] = c[j * n + i]!
  return upper
}

/** Lower Cholesky factor of a symmetric positive definite matrix. */
function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n)
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j]!
    for (let k = 0; k < j; k++) d -= l[j * n + k]! * l[j * n + k]!
    if (!(d > 0)) throw new RangeError('input second moments are not positive definite after dampening')
    const dj = Math.sqrt(d)
    l[j * n + j] = dj
    for (let i = j + 1; i < n; i++) {
      let s = a[i * n + j]!
      for (let k = 0; k < j; k++) s -= l[i * n + k]! * l[j * n + k]!
      l[i * n + j] = s / dj
    }
  }
  return l
}

/** Inverse of a lower triangular matrix (lower triangular). */
function lowerInverse(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n)
  for (let j = 0; j < n; j++) {
    inv[j * n + j] = 1 / l[j * n + j]!
    for (let i = j + 1; i < n; i++) {
      let s = 0
      for (let k = j; k < i; k++) s -= l[i * n + k]! * inv[k * n + j]!
      inv[i * n + j] = s / l[i * n + i]!
    }
  }
  return inv
}

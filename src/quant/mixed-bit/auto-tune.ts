/** One point of the init_scale search. */
export interface TunePoint {
  initScale: number
  /** Mean output cosine vs fp32 on the tuning inputs (minimum over outputs). */
  cosine: number
  /** Sum over weights of elements x entropy of their codes, in bytes: the compressed weight size an ideal coder reaches. */
  entropyBytes: number
}

export interface TuneResult {
  chosen: number
  /** Whether the chosen value keeps the cosine at or above the goal. */
  reached: boolean
  /** Every point measured, in the order measured. */
  curve: TunePoint[]
}

export interface TuneOptions {
  /** Mean output cosine to keep. @default 0.995 */
  goal?: number
  /** Geometric bisection rounds between the last good and the first bad grid point. @default 3 */
  refine?: number
}

/** init_scale candidates: doubling from 0.0025 while inside (0, 1). */
const GRID = [0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64]

/**
 * The format's auto_tune: the largest init_scale (coarsest steps, most compression) whose output
 * cosine vs fp32 stays at or above the goal. Error grows with init_scale, so it walks the grid
 * up until the first miss, then bisects geometrically between the last pass and that miss. Every
 * evaluation is deterministic (fixed inputs, one thread), so the same model and inputs always
 * give the same choice. If even the finest grid point misses, that point is chosen and
 * `reached` is false.
 */
export async function tuneInitScale(evaluate: (initScale: number) => Promise<TunePoint>, options: TuneOptions = {}): Promise<TuneResult> {
  const goal = options.goal ?? 0.995
  const curve: TunePoint[] = []
  const measure = async (s: number) => {
    const p = await evaluate(s)
    curve.push(p)
    return p
  }
  let pass: TunePoint | null = null
  let fail: TunePoint | null = null
  for (const s of GRID) {
    const p = await measure(s)
    if (p.cosine >= goal) pass = p
    else {
      fail = p
      break
    }
  }
  if (!pass) return { chosen: GRID[0]!, reached: false, curve }
  if (fail) {
    let lo = pass.initScale
    let hi = fail.initScale
    for (let i = 0; i < (options.refine ?? 3); i++) {
      // 4 significant digits keep the chosen value readable and exactly reproducible
      const mid = Number(Math.sqrt(lo * hi).toPrecision(4))
      const p = await measure(mid)
      if (p.cosine >= goal) {
        pass = p
        lo = mid
      } else hi = mid
    }
  }
  return { chosen: pass.initScale, reached: true, curve }
}

import { QuantizeError } from '../errors.js'
import type { ModeContext, ModeResult } from './mode.js'

/** FULL_QUANT details for the report. */
export interface FullQuantReport {
  /** Filled in by the FULL_QUANT implementation. */
  notes: string[]
}

/** FULL_QUANT: not implemented yet; fails with a clear error instead of emitting a wrong model. */
export async function quantizeFull(ctx: ModeContext): Promise<ModeResult> {
  throw new QuantizeError(ctx.cfg.source, 'FULL_QUANT is not supported yet', 'unsupported')
}

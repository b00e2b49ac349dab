import { QuantizeError } from '../errors.js'
import type { ModeContext, ModeResult } from './mode.js'

/** DYNAMIC_QUANT details for the report. */
export interface DynamicQuantReport {
  /** Filled in by the DYNAMIC_QUANT implementation. */
  notes: string[]
}

/** DYNAMIC_QUANT: not implemented yet; fails with a clear error instead of emitting a wrong model. */
export async function quantizeDynamic(ctx: ModeContext): Promise<ModeResult> {
  throw new QuantizeError(ctx.cfg.source, 'DYNAMIC_QUANT is not supported yet', 'unsupported')
}

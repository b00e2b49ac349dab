import { QuantizeError } from '../errors.js'
import type { ModeContext, ModeResult } from './mode.js'

/** bit_num=0 details for the report. */
export interface MixedBitReport {
  /** Filled in by the bit_num=0 implementation. */
  notes: string[]
}

/** bit_num=0: not implemented yet; fails with a clear error instead of emitting a wrong model. */
export async function quantizeMixedBit(ctx: ModeContext): Promise<ModeResult> {
  throw new QuantizeError(ctx.cfg.source, 'bit_num=0 is not supported yet', 'unsupported')
}

import { storedCodeBytes } from './packed-codes.js'
import { HALF_SCALE_MAX_BITS } from './weight-correction.js'
import type { PlannedWeight } from './weight-quant.js'

/**
 * The wider codes the accuracy target may give a weight: 8 (int8 storage, as below 8 bit), 9, 10
 * and 12 (packed, 1.125-1.5 bytes a code), those wider than `bits`. None from 12 bit up. Below
 * 8 bit, 8 alone was not enough for silero: the LSTM cells that flip on a few frames need their
 * input weights at 10-12 bit (op18 at 6 bit, 64 held-out frames: 0.9959 with 8 only, 0.9997).
 */
export function escalationWidths(bits: number): number[] {
  return [8, 9, 10, 12].filter((b) => b > bits)
}

/** What widening a weight costs, and the cost of the plain encoding in the same unit. */
export interface EscalationCosts {
  /** The plain encoding: its weight elements below 8 bit, its stored bytes from 8 bit. */
  base: number
  cost: (w: PlannedWeight, from: number, to: number) => number
}

/**
 * From 8 bit, stored bytes: the codes, plus the per-channel scales where a wider code takes them
 * from float16 to float32 (never below 0: at bit_num 9-10 an int16 weight can pack at a wider
 * width and shrink). Below 8 bit, weight elements, each counted at the bits a code gains over
 * the ones 8 bit would add: to 8 bit costs its elements (int8 either way: the raw file does not
 * grow, the compressed one does), to 12 from 6 three times that, and a width whose codes cannot
 * pack is counted as the 16 bits it stores.
 */
export function escalationCosts(planned: readonly PlannedWeight[], bits: number, opset: number): EscalationCosts {
  const stored = (w: PlannedWeight, b: number) => storedCodeBytes(b, w.elements, opset) + (w.site.dims[w.axis] ?? 1) * (b <= HALF_SCALE_MAX_BITS ? 2 : 4)
  if (bits < 8) {
    // bits a code takes in the file, what its scales add past 8 bit included
    const width = (w: PlannedWeight, b: number) => (b <= 8 ? b : 8 + (8 * (stored(w, b) - stored(w, 8))) / w.elements)
    return {
      base: planned.reduce((n, w) => n + w.elements, 0),
      // never below 0, as from 8 bit (an int16 width to a packed wider one)
      cost: (w, from, to) => Math.max(0, (w.elements * (width(w, to) - width(w, from))) / (8 - bits)),
    }
  }
  return {
    base: planned.reduce((n, w) => n + stored(w, bits), 0),
    cost: (w, from, to) => Math.max(0, stored(w, to) - stored(w, from)),
  }
}

/**
 * What the accuracy target may spend, in its cost units. Below 8 bit, a share of the weight
 * elements (see escalationCosts): a quarter at 7 bit, half at 6, where rounding noise is 4x as
 * strong. Held out (bench/inputs.ts), a quarter left 6-bit det, rec, silero v5 and op18 at
 * 0.9983-0.9987 and half reached 0.9991-0.9998 for 8% more brotli bytes (det 0.215x → 0.232x of
 * fp32's brotli size; 8 bit is 0.28x); at 7 bit a quarter already held det 0.99911 and rec
 * 0.99945. From 8 bit, stored bytes: as much as keeps the file within 0.30x of the input (the
 * size an 8-bit file should have), at least 6% and at most 25% more code bytes. A fixed share did
 * not fit both OCR models: 6% kept PP-OCRv4 det at 0.2995x (0.99984 held out) but left rec at
 * 0.99990 where its 10% (0.2998x) held 0.99996 out. At 8 bit, where even 6% takes the file over
 * 0.30x, the size is lost whatever is spent, and 12%: silero's errors are rare and large (an LSTM
 * cell that flips sign on one frame in a few); over three sets of 64 held-out speech-like frames
 * (as long as their wrappers feed them), 6% held v5, legacy and op18 at 0.99996, 0.99991 and
 * 0.99989 at the worst, 12% at 0.99999, 0.99998 and 0.99995, for 0.331x → 0.344x, 0.344x →
 * 0.359x and 0.448x → 0.461x of fp32. (At 9-11 bit, whose plain files are over 0.30x anyway, 6%.)
 */
export function escalationBudget(bits: number, base: number, inputBytes: number, plainBytes: () => number): number {
  if (bits < 8) return base * (bits <= 6 ? 0.5 : 0.25)
  const room = 0.3 * inputBytes - plainBytes()
  if (bits === 8 && room < base * 0.06) return base * 0.12
  return Math.min(base * 0.25, Math.max(base * 0.06, room))
}

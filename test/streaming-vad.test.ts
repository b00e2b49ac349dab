// Silero VAD as it is used: streams of frames, each model carrying its own recurrent state, so
// that a quantized model's error can build up through the state (judged frame by frame from a
// zero state, it cannot). Without data, the default path; the streams' audio (talk and pauses) is
// never seen. At 6 bit up to 2 of 256 frames may flip, at the talk/pause edges where the float
// probability passes 0.5.
import { describe, expect, it } from 'vitest'
import { quantizeModel } from '../src/quantize-model.js'
import { audioFrame } from './helpers/model-inputs.js'
import { MODELS } from './helpers/models.js'
import { compareStreams, streamLength, talkAndPauses } from './helpers/silero-stream.js'

const cfg = (bits: number) => ({ common_quant_param: { quant_type: 'WEIGHT_QUANT' as const, bit_num: bits } })

const CASES = [
  { name: 'silero v5', file: MODELS.sileroV5, frames: 64 },
  { name: 'silero legacy', file: MODELS.sileroLegacy, frames: 32 },
  { name: 'silero op18', file: MODELS.sileroOp18, frames: 64 },
]

describe('silero VAD streamed: speech probability and state stay with fp32 over 128-256 frames', () => {
  for (const c of CASES) {
    it.each([[8, 0.9999, 0], [6, 0.999, 2]])(`${c.name} at %i bit: probability and state cosine >= %f, at most %i speech decisions flipped`, async (bits, min, flips) => {
      const streams = [0, 1, 2, 3].map((s) => talkAndPauses(7000 + s, streamLength(c.file, c.frames), audioFrame))
      const { model } = await quantizeModel(c.file, cfg(bits), { verify: false, sizes: false })
      const [cmp] = await compareStreams(c.file, [model], streams)
      console.info(`${c.name} ${bits} bit streamed: ${cmp.frames} frames, probability ${cmp.probCosine.toFixed(6)}, state ${cmp.stateCosine.toFixed(6)}, ${cmp.decisionFlips} of ${cmp.speechFrames} speech frames flipped`)
      expect(cmp.frames).toBe(4 * c.frames)
      // the streams cross the speech threshold both ways in fp32, so the decisions are tested
      expect(cmp.speechFrames).toBeGreaterThan(cmp.frames * 0.1)
      expect(cmp.speechFrames).toBeLessThan(cmp.frames * 0.9)
      expect(cmp.probCosine).toBeGreaterThanOrEqual(min)
      expect(cmp.stateCosine).toBeGreaterThanOrEqual(min)
      expect(cmp.decisionFlips).toBeLessThanOrEqual(flips)
    })
  }
})

// Phase 1: protobuf decode+encode alone vs the full weight quantization, timed in the same
// process and interleaved (codec, core, full, codec, core, full, ...) so load changes hit all.
import { cfgFromObject } from '../src/cfg/index.js'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { quantizeWeights } from '../src/quant/weight-quant.js'
import { quantizeModel } from '../src/quantize-model.js'
import { type BitWidth, weightQuantCfg } from './models.js'
import { collectGarbage, median, timeMs } from './stats.js'

export interface QuantTiming {
  /** decode + encode of the unchanged model, ms (median) */
  codecMs: number
  /** decode + quantizeWeights + encode: the rewrite without cfg handling and size reports, ms (median) */
  coreMs: number
  /** quantizeModel(bytes, cfg, { verify: false }), ms (median) */
  fullMs: number
  runs: number
}

/** Times codec / core / full for each bit width on one model: `warmup` + `runs` interleaved rounds. */
export async function timeQuantization(bytes: Uint8Array, bits: readonly BitWidth[], runs: number, warmup = 1): Promise<Map<BitWidth, QuantTiming>> {
  const codec: number[] = []
  const core = new Map<BitWidth, number[]>(bits.map((b) => [b, []]))
  const full = new Map<BitWidth, number[]>(bits.map((b) => [b, []]))
  const cfgs = new Map(bits.map((b) => [b, cfgFromObject(weightQuantCfg(b), process.cwd())]))
  for (let round = 0; round < warmup + runs; round++) {
    const keep = round >= warmup
    collectGarbage()
    const c = await timeMs(() => encodeModelProto(decodeModelProto(bytes)))
    if (keep) codec.push(c)
    for (const b of bits) {
      const cfg = cfgs.get(b)!
      collectGarbage()
      const k = await timeMs(() => {
        const model = decodeModelProto(bytes)
        quantizeWeights(model, undefined, {
          bits: cfg.bitNum, minQuantWeightSize: cfg.minQuantWeightSize,
          minQuantWeightChannel: cfg.minQuantWeightChannel, skipQuantNode: cfg.skipQuantNode,
        })
        return encodeModelProto(model)
      })
      collectGarbage()
      const f = await timeMs(() => quantizeModel(bytes, weightQuantCfg(b), { verify: false }))
      if (keep) {
        core.get(b)!.push(k)
        full.get(b)!.push(f)
      }
    }
  }
  const codecMs = median(codec)
  return new Map(bits.map((b) => [b, { codecMs, coreMs: median(core.get(b)!), fullMs: median(full.get(b)!), runs }]))
}

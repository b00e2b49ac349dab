// Phase 1: protobuf decode+encode alone vs the full weight quantization, timed in the same
// process and interleaved (codec, then per bit width core, no-target, full; repeat) so load
// that comes and goes hits every variant alike.
import { cfgFromObject } from '../src/cfg/index.js'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { quantizeWeights } from '../src/quant/weight-quant.js'
import { quantizeModel } from '../src/quantize-model.js'
import { type BitWidth, weightQuantCfg } from './models.js'
import { collectGarbage, median, timeMs } from './stats.js'

export interface QuantTiming {
  /** decode + encode of the unchanged model, ms (median) */
  codecMs: number
  /** decode + quantizeWeights + encode: the rewrite alone, ms (median) */
  coreMs: number
  /** quantizeModel(bytes, cfg, { verify: false, accuracyTarget: false, sizes: false }): the engine without its reports, ms (median) */
  noTargetMs: number
  /** quantizeModel(bytes, cfg, { verify: false }): what a user gets, accuracy target included, ms (median) */
  fullMs: number
  runs: number
}

export interface QuantTimeOptions {
  minRuns: number
  maxRuns: number
  /** stop after minRuns once a model's timing has taken this long */
  budgetMs: number
}

/**
 * Times codec / core / no-target / full for each bit width on one model. One warm-up round of
 * the cheap variants first; the full variant is warm already (the caller has quantized the model
 * once to get its output), and on the big models one more run of it costs seconds.
 */
export async function timeQuantization(bytes: Uint8Array, bits: readonly BitWidth[], opts: QuantTimeOptions): Promise<Map<BitWidth, QuantTiming>> {
  const codec: number[] = []
  const series = (): Map<BitWidth, number[]> => new Map(bits.map((b) => [b, []]))
  const core = series()
  const noTarget = series()
  const full = series()
  const cfgs = new Map(bits.map((b) => [b, cfgFromObject(weightQuantCfg(b), process.cwd())]))
  const runCore = (b: BitWidth): Uint8Array => {
    const cfg = cfgs.get(b)!
    const model = decodeModelProto(bytes)
    quantizeWeights(model, undefined, {
      bits: cfg.bitNum, minQuantWeightSize: cfg.minQuantWeightSize,
      minQuantWeightChannel: cfg.minQuantWeightChannel, skipQuantNode: cfg.skipQuantNode,
    })
    return encodeModelProto(model)
  }
  // warm-up
  encodeModelProto(decodeModelProto(bytes))
  for (const b of bits) {
    runCore(b)
    await quantizeModel(bytes, weightQuantCfg(b), { verify: false, accuracyTarget: false, sizes: false })
  }
  const started = performance.now()
  let runs = 0
  while (runs < opts.maxRuns && (runs < opts.minRuns || performance.now() - started < opts.budgetMs)) {
    collectGarbage()
    codec.push(await timeMs(() => encodeModelProto(decodeModelProto(bytes))))
    for (const b of bits) {
      collectGarbage()
      core.get(b)!.push(await timeMs(() => runCore(b)))
      collectGarbage()
      noTarget.get(b)!.push(await timeMs(() => quantizeModel(bytes, weightQuantCfg(b), { verify: false, accuracyTarget: false, sizes: false })))
      collectGarbage()
      full.get(b)!.push(await timeMs(() => quantizeModel(bytes, weightQuantCfg(b), { verify: false })))
    }
    runs++
  }
  const codecMs = median(codec)
  return new Map(bits.map((b) => [b, {
    codecMs, coreMs: median(core.get(b)!), noTargetMs: median(noTarget.get(b)!), fullMs: median(full.get(b)!), runs,
  }]))
}

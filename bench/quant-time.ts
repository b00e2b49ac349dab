// Phase 1: protobuf decode+encode alone vs the full weight quantization, timed in the same
// process and interleaved (codec, then per bit width core, no-target, full; repeat) so load
// that comes and goes hits every variant alike.
import { existsSync, readFileSync } from 'node:fs'
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
  /**
   * The same three single-threaded variants as main-thread CPU time (Linux schedstat), ms
   * (median); null off Linux. Time slices lost to other processes do not count, so on a loaded
   * machine these ratios hold where wall-clock ones swing by 2x. Work on other threads (GC
   * helpers; the size report's and onnxruntime's pools, hence no full variant) is not counted.
   */
  cpu: { codecMs: number; coreMs: number; noTargetMs: number } | null
  runs: number
}

const SCHEDSTAT = `/proc/self/task/${process.pid}/schedstat`
const hasSchedstat = existsSync(SCHEDSTAT)

/** Nanoseconds the main thread has spent on a CPU, as milliseconds. */
function mainThreadCpuMs(): number {
  return Number(readFileSync(SCHEDSTAT, 'utf8').split(' ')[0]) / 1e6
}

/** Wall and main-thread CPU milliseconds of `fn`. */
async function timeBoth(fn: () => unknown): Promise<[number, number]> {
  const c = hasSchedstat ? mainThreadCpuMs() : 0
  const wall = await timeMs(fn)
  return [wall, hasSchedstat ? mainThreadCpuMs() - c : Number.NaN]
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
  const codecCpu: number[] = []
  const series = (): Map<BitWidth, number[]> => new Map(bits.map((b) => [b, []]))
  const core = series()
  const coreCpu = series()
  const noTarget = series()
  const noTargetCpu = series()
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
  const record = ([wall, cpu]: [number, number], to: number[], toCpu: number[]) => {
    to.push(wall)
    toCpu.push(cpu)
  }
  while (runs < opts.maxRuns && (runs < opts.minRuns || performance.now() - started < opts.budgetMs)) {
    collectGarbage()
    record(await timeBoth(() => encodeModelProto(decodeModelProto(bytes))), codec, codecCpu)
    for (const b of bits) {
      collectGarbage()
      record(await timeBoth(() => runCore(b)), core.get(b)!, coreCpu.get(b)!)
      collectGarbage()
      record(await timeBoth(() => quantizeModel(bytes, weightQuantCfg(b), { verify: false, accuracyTarget: false, sizes: false })), noTarget.get(b)!, noTargetCpu.get(b)!)
      collectGarbage()
      full.get(b)!.push(await timeMs(() => quantizeModel(bytes, weightQuantCfg(b), { verify: false })))
    }
    runs++
  }
  const codecMs = median(codec)
  return new Map(bits.map((b) => [b, {
    codecMs, coreMs: median(core.get(b)!), noTargetMs: median(noTarget.get(b)!), fullMs: median(full.get(b)!), runs,
    cpu: hasSchedstat ? { codecMs: median(codecCpu), coreMs: median(coreCpu.get(b)!), noTargetMs: median(noTargetCpu.get(b)!) } : null,
  }]))
}

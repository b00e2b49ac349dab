import fs from 'node:fs'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { floatVariants, type FloatVariants } from '../src/quant/float-variants.js'
import { rankWeights } from '../src/quant/rank-weights.js'
import { decodedValues, encodeWeight, planWeights, type PlannedWeight } from '../src/quant/weight-quant.js'
import { quantizeModel } from '../src/quantize-model.js'
import { ScorePool } from '../src/runtime/score-pool.js'
import type { Feeds } from '../src/runtime/feeds.js'
import { recSamples } from './helpers/model-inputs.js'
import { MODELS } from './helpers/models.js'

const REC = MODELS.rec
const cfg = { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } }
const exits = (code: number) => () => new Worker(`process.exit(${code})`, { eval: true })

/**
 * rec's first `count` weights, each with its 4-bit values (variants far enough apart to tell their
 * scores apart), in two float copies: `here` scored one by one on this thread for `expected`, and
 * `other` for the caller to score another way.
 */
async function fourBitVariants(bytes: Uint8Array, count: number, samples: Feeds[]) {
  const plan = planWeights(decodeModelProto(bytes), undefined, { bits: 4, minQuantWeightSize: 0, minQuantWeightChannel: 16, skipQuantNode: [] })
  const planned = plan.planned.slice(0, count)
  const values = new Map(planned.map((w) => [w, decodedValues(w, encodeWeight(w, 4))]))
  const here = (await floatVariants(bytes, plan.planned, samples))!
  const other = (await floatVariants(bytes, plan.planned, samples))!
  // only w takes its 4-bit values; every other weight keeps the copy's floats
  const alone = (v: FloatVariants, w: PlannedWeight) => (x: PlannedWeight) => (x === w ? values.get(w)! : v.float(x))
  const expected: number[] = []
  for (const w of planned) expected.push(await here.score(alone(here, w)))
  await here.dispose()
  return { planned, other, expected, scoreOther: () => Promise.all(planned.map((w) => other.score(alone(other, w)))) }
}

describe('ranking weights on worker threads', () => {
  const bytes = new Uint8Array(fs.readFileSync(REC))

  it('scores each variant on the workers exactly as on the calling thread, with several in flight', async () => {
    const { other, expected, scoreOther } = await fourBitVariants(bytes, 6, await recSamples(2, 800))
    expect(other.parallel(2)).toBe(true)
    try {
      expect(await scoreOther()).toEqual(expected)
    } finally {
      await other.dispose()
    }
    // the first variant runs on the calling thread with its values written in, the rest fed on workers
    expect(other.workerScores).toBe(5)
    // real measurements: every variant moves the output, not all by the same amount
    for (const s of expected) expect(s).toBeLessThan(1)
    expect(new Set(expected).size).toBeGreaterThan(1)
  })

  it('the calling thread scores beside the workers, with the same scores', async () => {
    const { planned, other, expected } = await fourBitVariants(bytes, 4, await recSamples(2, 800))
    expect(other.parallel(1)).toBe(true)
    const values = (w: PlannedWeight) => (x: PlannedWeight) => (x === w ? decodedValues(w, encodeWeight(w, 4)) : other.float(x))
    try {
      // weights 0 and 2 on this thread, 1 and 3 on the worker, all four in flight at once
      expect(await Promise.all(planned.map((w, i) => other.score(values(w), undefined, i % 2 === 0)))).toEqual(expected)
    } finally {
      await other.dispose()
    }
    expect(other.workerScores).toBe(2)
  })

  it('a worker that dies fails its job and every later one with the exit code', async () => {
    const samples = await recSamples(1, 800)
    const pool = ScorePool.open(2, bytes, {}, samples, [], exits(7))!
    try {
      await expect(pool.score({}, 1)).rejects.toThrow(/exited with code 7/)
      await expect(pool.score({}, 1)).rejects.toThrow(/exited with code 7/)
    } finally {
      await pool.close()
    }
  })

  it('when the workers fail, the variants are scored on the calling thread with the same result', async () => {
    const { other, expected, scoreOther } = await fourBitVariants(bytes, 3, await recSamples(1, 800))
    expect(other.parallel(2, { start: exits(3) })).toBe(true)
    expect(await scoreOther()).toEqual(expected)
    await other.dispose()
    expect(other.workerScores).toBe(0)
  })

  it('a score that fails stops every lane: the ranking rethrows it, closes the workers and scores nothing more', async () => {
    let calls = 0
    let closed = 0
    const variants: FloatVariants = {
      async score() {
        const n = ++calls
        await new Promise((r) => setTimeout(r, 5))
        if (n === 3) throw new Error('session failed')
        return 0.5
      },
      float: () => new Float32Array(0),
      floatScore: async () => 1,
      scored: 0,
      workerScores: 0,
      parallel: () => true,
      async close() { closed++ },
      async dispose() {},
    }
    const planned = Array.from({ length: 20 }, (_, index) => ({ index }) as unknown as PlannedWeight)
    await expect(rankWeights(variants, planned, () => new Float32Array(0), { samples: [{}], threads: 2, scoreMs: 10_000 })).rejects.toThrow('session failed')
    const after = calls
    await new Promise((r) => setTimeout(r, 50))
    expect(calls).toBe(after)
    expect(calls).toBeLessThanOrEqual(4)
    expect(closed).toBe(1)
  })

  it('quantizeModel: the accuracy target ranked on 2 threads writes the same file as on one', async () => {
    const samples = await recSamples(3, 500)
    const one = await quantizeModel(REC, cfg, { verify: false, sizes: false, samples, threads: 1 })
    const two = await quantizeModel(REC, cfg, { verify: false, sizes: false, samples, threads: 2 })
    expect(one.report.accuracy!.rankingThreads).toBe(1)
    expect(two.report.accuracy!.rankingThreads).toBe(2)
    expect(two.report.accuracy!.escalated.length).toBeGreaterThan(0)
    expect(Buffer.from(two.model).equals(Buffer.from(one.model))).toBe(true)
  })
})

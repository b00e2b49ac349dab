import fs from 'node:fs'
import ort from 'onnxruntime-node'
import { describe, expect, it } from 'vitest'
import { DataType } from '../src/onnx/onnx-types.js'
import { allGraphScopes } from '../src/onnx/graph-walk.js'
import { decodeModelProto } from '../src/onnx/codec.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { storedCodeBytes } from '../src/quant/packed-codes.js'
import { escalationBudget, escalationCosts, escalationWidths } from '../src/quant/escalation-costs.js'
import { floatVariants } from '../src/quant/float-variants.js'
import { rankingSampleCount, rankWeights } from '../src/quant/rank-weights.js'
import { allocateWidths, candidateAllocations, type WidthChoices } from '../src/quant/sensitivity.js'
import { decodedValues, encodeWeight, planWeights, type PlannedWeight } from '../src/quant/weight-quant.js'
import { quantizeModel, type TunedAccuracy } from '../src/quantize-model.js'
import { checkTargetInVerification } from '../src/report/verified-target.js'
import type { Verification } from '../src/runtime/verify.js'
import { clsSamples, recSamples, sileroSamplesFor } from './helpers/model-inputs.js'
import { MODELS } from './helpers/models.js'

const REC = MODELS.rec
const cfg = (bits: number) => ({ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: bits } })

/** Stand-ins for planned weights: the allocation reads only their element counts. */
const weights = (counts: number[]) => counts.map((elements, index) => ({ index, elements }) as unknown as PlannedWeight)
const byteCost = (w: PlannedWeight, from: number, to: number) => storedCodeBytes(to, w.elements, 13) - storedCodeBytes(from, w.elements, 13)
const choices8: WidthChoices = { bits: 8, widths: [9, 10, 12], cost: byteCost }

describe('accuracy target: wider codes where they buy the most error per byte', () => {
  it('a target the caller sets at a width with nothing wider to go to is said, not dropped in silence', async () => {
    const { model, report } = await quantizeModel(MODELS.cls, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 12 } }, { sizes: false, verify: false, accuracyTarget: 0.9999999 })
    expect(report.accuracy).toBeNull()
    expect(report.warnings).toContain('accuracyTarget 0.9999999 not pursued: it widens weights to 8, 9, 10 or 12 bit, and at bit_num=12 there is no wider code')
    // the default target at 12 bit has nothing to say
    const plain = await quantizeModel(MODELS.cls, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 12 } }, { sizes: false, verify: false })
    expect(plain.report.warnings.filter((w) => w.includes('not pursued'))).toEqual([])
    // both 12-bit models run close to fp32 on word crops
    const crops = await clsSamples(4, 7000)
    for (const m of [model, plain.model]) expect((await compareModels(MODELS.cls, m, crops)).cosine).toBeGreaterThan(0.9999)
  })

  it('spends within the budget, best buy first, and never on weights that cost no error', () => {
    const ws = weights([4096, 4096, 65536, 1000, 9216])
    const sens = new Map(ws.map((w, i) => [w, [1e-4, 2e-5, 3e-4, 5e-5, 0][i]!]))
    const budget = 9000
    const steps = allocateWidths(ws, sens, choices8, budget)
    expect(steps.length).toBeGreaterThan(0)
    expect(steps.at(-1)!.spent).toBeLessThanOrEqual(budget)
    expect(steps.some((s) => s.w === ws[4])).toBe(false)
    // each step is the upgrade with the most modelled error removed per byte among those that fit
    const width = new Map<PlannedWeight, number>()
    const ratio = (w: PlannedWeight, from: number, to: number) => (sens.get(w)! * (4 ** (8 - from) - 4 ** (8 - to))) / byteCost(w, from, to)
    let spent = 0
    for (const s of steps) {
      const from = width.get(s.w) ?? 8
      expect(s.bits).toBeGreaterThan(from)
      for (const w of ws) {
        for (const to of [9, 10, 12]) {
          const f = width.get(w) ?? 8
          if (to > f && sens.get(w)! > 0 && spent + byteCost(w, f, to) <= budget) expect(ratio(w, f, to)).toBeLessThanOrEqual(ratio(s.w, from, s.bits) * (1 + 1e-12))
        }
      }
      spent += byteCost(s.w, from, s.bits)
      expect(s.spent).toBe(spent)
      width.set(s.w, s.bits)
    }
    // the most sensitive weight per element (4096 elements, 1e-4) is widened first, a bit at a time
    expect(steps[0]!.w).toBe(ws[0])
    expect(steps[0]!.bits).toBe(9)
  })

  it('a count that does not fill whole bytes of low bits can only go to int16 12 bit', () => {
    const ws = weights([4097])
    const steps = allocateWidths(ws, new Map([[ws[0]!, 1e-3]]), choices8, 1e6)
    expect(steps.map((s) => s.bits)).toEqual([12])
    expect(steps[0]!.spent).toBe(4097)
  })

  it('with one wider width the allocation ranks by error per unit of cost', () => {
    const ws = weights([100, 1000, 10])
    const sens = new Map([[ws[0]!, 1e-3], [ws[1]!, 2e-3], [ws[2]!, 1e-5]])
    const steps = allocateWidths(ws, sens, { bits: 6, widths: [8], cost: (w) => w.elements }, 1100)
    expect(steps.map((s) => [s.w, s.bits])).toEqual([[ws[0], 8], [ws[1], 8]])
  })

  it('scores the greedy allocations over the widest and over the narrowest width alone too, unless they are the same', () => {
    // no weight carries half the loss: the greedy mix, the widest and the narrowest code alone
    const ws = weights([4096, 8192, 4096])
    const sens = new Map([[ws[0]!, 1e-3], [ws[1]!, 8e-4], [ws[2]!, 6e-4]])
    const [mixed, widest, narrowest, ...more] = candidateAllocations(ws, sens, choices8, 6000)
    expect(more).toEqual([])
    expect(mixed).toEqual(allocateWidths(ws, sens, choices8, 6000))
    expect(mixed!.some((s) => s.bits !== 12)).toBe(true)
    expect(widest!.length).toBeGreaterThan(0)
    expect(widest!.every((s) => s.bits === 12)).toBe(true)
    expect(widest!.at(-1)!.spent).toBeLessThanOrEqual(6000)
    // and over the narrowest alone (below 8 bit: 8, what a weight could get before 9-12 were allowed there)
    expect(narrowest).toEqual(allocateWidths(ws, sens, { ...choices8, widths: [9] }, 6000))
    expect(narrowest!.every((s) => s.bits === 9)).toBe(true)
    // a count whose 9-10 bit codes cannot pack (int16, as dear as 12 bit): every candidate ends at 12, one is scored
    const odd = weights([4097])
    expect(candidateAllocations(odd, new Map([[odd[0]!, 1e-3]]), choices8, 1e6)).toHaveLength(1)
    // one wider width: one candidate; nothing worth widening: none
    expect(candidateAllocations(ws, sens, { bits: 6, widths: [8], cost: (w) => w.elements }, 5000)).toHaveLength(1)
    expect(candidateAllocations(ws, new Map(ws.map((w) => [w, 0])), choices8, 6000)).toEqual([])
  })

  it('a weight that carries most of the loss is also tried at each width it can take, the rest greedy in what is left', () => {
    // silero legacy's STFT basis at 8 bit beside two small weights: 12 bit does not fit the budget
    const ws = weights([66048, 16384, 1024])
    const sens = new Map([[ws[0]!, 5e-4], [ws[1]!, 4e-6], [ws[2]!, 2e-6]])
    const budget = 26000
    const candidates = candidateAllocations(ws, sens, choices8, budget)
    const finals = candidates.map((steps) => new Map(steps.map((s) => [s.w, s.bits])))
    for (const steps of candidates) expect(steps.at(-1)!.spent).toBeLessThanOrEqual(budget)
    // no two candidates end at the same widths
    const keys = finals.map((f) => JSON.stringify(ws.map((w) => f.get(w) ?? 8)))
    expect(new Set(keys).size).toBe(keys.length)
    // the greedy mix (basis at 10), the widest alone (basis left at 8), the narrowest alone (all
    // at 9) and the basis forced to 9 with the rest greedy; forced to 10 is the mix again
    expect(keys.sort()).toEqual(['[10,10,12]', '[8,12,12]', '[9,12,12]', '[9,9,9]'])
    // with the basis just under half the summed loss, it is not forced: [9,12,12] goes
    const under = new Map([[ws[0]!, 0.49], [ws[1]!, 0.3], [ws[2]!, 0.21]])
    const over = new Map([[ws[0]!, 0.51], [ws[1]!, 0.3], [ws[2]!, 0.19]])
    const widthsOf = (s: Map<PlannedWeight, number>) => candidateAllocations(ws, s, choices8, budget).map((steps) => {
      const final = new Map(steps.map((x) => [x.w, x.bits]))
      return JSON.stringify(ws.map((w) => final.get(w) ?? 8))
    })
    expect(widthsOf(over)).toContain('[9,12,12]')
    expect(widthsOf(under)).not.toContain('[9,12,12]')
  })

  it('what widening costs: stored bytes from 8 bit, bits gained below it, int16 where codes cannot pack', () => {
    expect(escalationWidths(6)).toEqual([8, 9, 10, 12])
    expect(escalationWidths(8)).toEqual([9, 10, 12])
    expect(escalationWidths(12)).toEqual([])
    // stand-ins with their output channels on axis 0
    const w = (channels: number, elements: number) => ({ index: 0, elements, axis: 0, site: { dims: [channels, elements / channels] } }) as unknown as PlannedWeight
    const big = w(64, 65536)
    const odd = w(6, 6006) // whole bytes of low bits at 12 bit, not at 9 or 10
    const six = escalationCosts([big, odd], 6, 13)
    expect(six.base).toBe(65536 + 6006)
    expect(six.cost(big, 6, 8)).toBe(65536)
    // to 12: three times the bits 8 adds, plus the packed decode and float32 scales
    expect(six.cost(big, 6, 12)).toBeGreaterThan(3 * 65536)
    expect(six.cost(big, 6, 12)).toBeLessThan(3.1 * 65536)
    // exactly: three 8-bit elements' worth for the 12-bit code bits, then 4 units a stored byte
    // past 1.5 a code (the packed decode) and 4 a byte of float32 over float16 scales
    expect(six.cost(big, 6, 12)).toBeCloseTo(3 * 65536 + 4 * (storedCodeBytes(12, 65536, 13) - 1.5 * 65536) + 4 * 64 * 2, 6)
    // codes that cannot pack at 9 bit stay int16: as dear as 12 bit, which then wins
    expect(six.cost(odd, 6, 9)).toBeGreaterThanOrEqual(six.cost(odd, 6, 12))
    const eight = escalationCosts([big], 8, 13)
    expect(eight.base).toBe(storedCodeBytes(8, 65536, 13) + 64 * 2)
    expect(eight.cost(big, 8, 12)).toBe(storedCodeBytes(12, 65536, 13) + 64 * 4 - eight.base)
  })

  it('what the target may spend: a share of the elements below 8 bit; from 8, the room under 0.30x, 6-25%, and 12% where 6% already passes 0.30x', () => {
    expect(escalationBudget(6, 1000, 1e6, () => 0)).toBe(500)
    expect(escalationBudget(7, 1000, 1e6, () => 0)).toBe(250)
    const base = 100_000
    // the room under 0.30x of a 2 MB input, between 6% and 25% of the plain codes
    expect(escalationBudget(8, base, 2e6, () => 0.3 * 2e6 - 10_000)).toBe(10_000)
    expect(escalationBudget(8, base, 2e6, () => 0.3 * 2e6 - 50_000)).toBe(25_000)
    // 6% fits under 0.30x only just: the room
    expect(escalationBudget(8, base, 2e6, () => 0.3 * 2e6 - 6_000)).toBe(6_000)
    // under 6% of room (or none), the size is lost anyway: 12%
    expect(escalationBudget(8, base, 2e6, () => 0.3 * 2e6 - 5_999)).toBeCloseTo(12_000, 6)
    expect(escalationBudget(8, base, 2e6, () => 0.3 * 2e6 + 1)).toBeCloseTo(12_000, 6)
    // above 8 bit, plain files are over 0.30x anyway: 6%
    expect(escalationBudget(10, base, 2e6, () => 0.3 * 2e6 + 1)).toBeCloseTo(6_000, 6)
  })

  it('ranks on up to 4 samples, past the first only while they hold as many values as two 640x640 RGB pages or fewer', () => {
    const image = (side: number, c = 3, extra: Record<string, ort.Tensor> = {}) => ({ x: new ort.Tensor('float32', new Float32Array(c * side * side), [1, c, side, side]), ...extra })
    const many = (k: number, make: () => Record<string, ort.Tensor>) => Array.from({ length: k }, make)
    expect(rankingSampleCount(many(8, () => image(320)))).toBe(4)
    expect(rankingSampleCount(many(8, () => image(48)))).toBe(4)
    expect(rankingSampleCount(many(3, () => image(48)))).toBe(3)
    // generated samples of an image model: up to 4 channels, and small inputs beside
    expect(rankingSampleCount(many(8, () => image(320, 4)))).toBe(4)
    expect(rankingSampleCount(many(8, () => image(320, 3, { size: new ort.Tensor('float32', new Float32Array(2), [1, 2]) })))).toBe(4)
    // two 640x640 RGB pages, not three; a page and a half, not two
    expect(rankingSampleCount(many(4, () => image(640)))).toBe(2)
    expect(rankingSampleCount(many(4, () => image(784)))).toBe(1)
    expect(rankingSampleCount(many(4, () => image(452)))).toBe(4)
    expect(rankingSampleCount(many(4, () => image(512)))).toBe(3)
    // a sample larger than the whole allowance is still ranked on (alone)
    expect(rankingSampleCount([image(1024), image(16)])).toBe(1)
    // every input of a sample counts
    const state = { state: new ort.Tensor('float32', new Float32Array(3 * 640 * 640), [3, 640, 640]) }
    expect(rankingSampleCount(many(4, () => image(320, 3, state)))).toBe(1)
    expect(rankingSampleCount([])).toBe(0)
  })

  it('a weight the samples never reach loses exactly nothing in the ranking, and is never widened (silero legacy, 8 kHz branch, 16 kHz frames)', async () => {
    const bytes = new Uint8Array(fs.readFileSync(MODELS.sileroLegacy))
    const model = decodeModelProto(bytes)
    // the top-level If on sr == 16000: its else branch (and what nests in it) is the 8 kHz model
    const branch = allGraphScopes(model).find((s) => s.parent?.parent === null && s.owner?.op_type === 'If' && s.path.endsWith('.else_branch'))!
    const eightK = new Set(allGraphScopes(model).filter((s) => s.path.startsWith(branch.path)).flatMap((s) => s.graph.node ?? []))
    const plan = planWeights(model, undefined, { bits: 8, minQuantWeightSize: 0, minQuantWeightChannel: 16, skipQuantNode: [] })
    const unreached = plan.planned.filter((w) => w.site.uses.every((u) => eightK.has(u.node)))
    expect(unreached.map((w) => w.site.name)).toContain('model_8k.feature_extractor.forward_basis_buffer')
    const samples = sileroSamplesFor(MODELS.sileroLegacy, 2, 900)
    const values = new Map(plan.planned.map((w) => [w, decodedValues(w, encodeWeight(w, 8))]))
    // on this thread, and on a worker beside it (the float score is this thread's)
    for (const threads of [1, 2]) {
      const variants = (await floatVariants(bytes, plan.planned, samples))!
      try {
        const ranking = await rankWeights(variants, plan.planned, (w) => values.get(w)!, { samples, threads, scoreMs: threads > 1 ? 1e6 : 0 })
        expect(ranking.threads).toBe(threads)
        const loss = new Map(plan.planned.map((w, i) => [w, ranking.losses[i]!]))
        for (const w of unreached) expect(loss.get(w)).toBe(0)
        expect(loss.get(plan.planned.find((w) => w.site.name === 'model.feature_extractor.forward_basis_buffer')!)).toBeGreaterThan(1e-5)
        // and so the whole budget goes to weights that run
        const budget = plan.planned.reduce((n, w) => n + w.elements, 0)
        const widened = candidateAllocations(plan.planned, loss, choices8, budget).flat().map((s) => s.w)
        expect(widened.length).toBeGreaterThan(0)
        expect(widened.filter((w) => unreached.includes(w))).toEqual([])
      } finally {
        await variants.dispose()
      }
    }
  })

  it('quantizeModel ranks on one sample when they are large, on each otherwise, in fixed bit and in mixed bit (silero op18)', async () => {
    const bytes = new Uint8Array(fs.readFileSync(MODELS.sileroOp18))
    const rankedOn = async (length: number, bits: number) => {
      // silero takes frames of any length: two of 1.5 million values are over the allowance.
      // A target past reach, so that the weights are always ranked.
      const samples = sileroSamplesFor(MODELS.sileroOp18, 3, 900, length)
      const r = await quantizeModel(bytes, cfg(bits), { samples, accuracyTarget: 0.9999999, verify: false, sizes: false, threads: 1 })
      return r.report.accuracy!.rankingSamples
    }
    expect(await rankedOn(1_500_000, 8)).toBe(1)
    expect(await rankedOn(512, 8)).toBe(3)
    expect(await rankedOn(1_500_000, 0)).toBe(1)
    expect(await rankedOn(512, 0)).toBe(3)
  })

  it('a file already over 0.30x gets 12% more code bytes: silero v5 and op18 at 8 bit without data spend past 9% and hold 0.9999 on 64 held-out frames', async () => {
    // The bytes are the rule's test: on these frames 6% also holds 0.9999, barely (v5 0.99996,
    // op18 0.99990; 12%: 0.99999 and 0.99996), and on other frames op18 reads 0.99989 with it
    // (src/quant/escalation-costs.ts). On frames of 512 samples, shorter than their wrappers feed,
    // 6% had left them at 0.99971 and 0.99968.
    for (const file of [MODELS.sileroV5, MODELS.sileroOp18]) {
      const bytes = new Uint8Array(fs.readFileSync(file))
      const plain = await quantizeModel(bytes, cfg(8), { verify: false, sizes: false, accuracyTarget: false })
      expect(plain.report.sizeOut / plain.report.sizeIn).toBeGreaterThan(0.3)
      const r = await quantizeModel(bytes, cfg(8), { verify: false, sizes: false })
      expect(r.report.accuracy!.inputs).toBe('generated')
      const cmp = await compareModels(bytes, r.model, sileroSamplesFor(file, 64, 3000))
      expect(cmp.cosine, file).toBeGreaterThanOrEqual(0.9999)
      // the bytes spent: well past the 6% budget (codes and scales), at most 12% plus the widened scales
      const grown = r.report.sizeOut - plain.report.sizeOut
      const codes = plain.report.layers.reduce((n, l) => n + l.elements, 0)
      expect(grown).toBeGreaterThan(0.09 * codes)
      expect(grown).toBeLessThan(0.14 * codes)
    }
  })

  it('PP-OCRv4 rec at 8 bit on 3 rendered words: widened weights are stored packed, the file stays within 0.30x of fp32, held-out cosine rises', async () => {
    const given = await recSamples(3, 500)
    const { model, report } = await quantizeModel(REC, cfg(8), { verify: false, sizes: false, samples: given })
    const plain = await quantizeModel(REC, cfg(8), { verify: false, sizes: false, accuracyTarget: false })
    const acc = report.accuracy!
    expect(acc.escalated.length).toBeGreaterThan(0)
    for (const name of acc.escalated) {
      expect([9, 10, 12]).toContain(acc.widths[name])
      expect(report.layers.find((l) => l.tensor === name)!.bits).toBe(acc.widths[name])
    }
    const graph = decodeModelProto(model).graph!
    const lowPlanes = [...(graph.initializer ?? []), ...(graph.node ?? []).map((n) => n.attribute?.find((a) => a.name === 'value')?.t)]
      .filter((t) => t?.data_type === DataType.UINT8 && t.name?.endsWith('_quantized_low'))
    expect(lowPlanes.length).toBeGreaterThan(0)
    expect(report.sizeOut / report.sizeIn).toBeLessThanOrEqual(0.3)
    const held = await recSamples(3, 600)
    const [cmp, cmpPlain] = [await compareModels(REC, model, held), await compareModels(REC, plain.model, held)]
    console.info(`rec 8 bit: held-out ${cmp.cosine.toFixed(6)} (plain ${cmpPlain.cosine.toFixed(6)}), ${acc.escalated.length} widened, ${(report.sizeOut / report.sizeIn).toFixed(4)}x`)
    expect(cmp.cosine).toBeGreaterThan(cmpPlain.cosine)
    // measured 0.999864 from 0.999479 on these 3 + 3 words (0.99996 on bench/datafree.ts's held-out
    // set from generated inputs): short of the 0.9999 within 0.30x here, so the floor is
    // what this version keeps
    expect(cmp.cosine).toBeGreaterThanOrEqual(0.99985)
  })
})

describe('accuracy target, checked again in verification', () => {
  const tuned: TunedAccuracy = {
    target: 0.999, inputs: 'generated', cosineBefore: 0.9956, cosineAfter: 0.99955, reached: true,
    escalatedBits: 12, escalated: [], widths: {}, scored: 14, rankingThreads: 1, rankingSamples: 4,
  }
  // a float output at `cosine` beside an integer one (a class index) far off: only the float one counts, as in the target's own score
  const verified = (cosine: number, inputs: Verification['inputs'] = 'generated'): Verification => ({
    cosine: Math.min(cosine, 0.5), samples: 4, inputs, error: null, nativeInt8Cosine: null,
    outputs: [{ name: 'score', type: 'float32', cosine, maxAbsDiff: 0.01 }, { name: 'label', type: 'int64', cosine: 0.5, maxAbsDiff: 1 }],
  })

  it('a target reached where it tuned but missed on inputs it did not tune on is a warning with both figures; met on both, none', () => {
    const missed = checkTargetInVerification(tuned, verified(0.998945))
    expect(missed.accuracy).toEqual({ ...tuned, reachedInVerification: false })
    expect(missed.warning).toBe('accuracy target 0.999 reached on the generated inputs it tuned on (cosine 0.999550) but missed in verification: 0.998945 on 4 generated inputs it did not tune on (generated inputs stand in for real ones, which may read otherwise); tuned on real inputs (calibrate_path, or the samples option) it ranks the weights that matter on them')
    const heldOut = checkTargetInVerification({ ...tuned, inputs: 'calibration' }, verified(0.998945, 'held-out'))
    expect(heldOut.warning).toBe('accuracy target 0.999 reached on the calibration inputs it tuned on (cosine 0.999550) but missed in verification: 0.998945 on 4 held-out calibration inputs it did not tune on')
    expect(checkTargetInVerification(tuned, verified(0.999))).toEqual({ accuracy: { ...tuned, reachedInVerification: true }, warning: null })
  })

  it('no second check on the inputs it tuned on (given samples, as the accuracy guard passes; calibration samples), nor without a comparison; no second warning for a target missed where it tuned', () => {
    const none = { accuracy: { ...tuned, reachedInVerification: null }, warning: null }
    expect(checkTargetInVerification(tuned, verified(0.99, 'given'))).toEqual(none)
    expect(checkTargetInVerification(tuned, verified(0.99, 'calibration'))).toEqual(none)
    expect(checkTargetInVerification(tuned, null)).toEqual(none)
    expect(checkTargetInVerification(tuned, { ...verified(1), cosine: null, outputs: [], error: 'could not run' })).toEqual(none)
    const unreached = { ...tuned, cosineAfter: 0.9985, reached: false }
    expect(checkTargetInVerification(unreached, verified(0.998))).toEqual({ accuracy: { ...unreached, reachedInVerification: false }, warning: null })
  })

  it('silero legacy at 7 bit without data: reached on its generated frames, missed on verification\'s, and the report says so; v5 at 8 bit meets it on both', async () => {
    // At 656bf8c 0.999553 where it tuned and 0.998945 in verification, 5.5e-5 under the
    // target: a better quantizer can lift it over, and then this case no longer shows a miss (the
    // unit tests above still check the wording). On 64 speech-like frames it reads 0.999543
    // (bench/RESULTS.md, "Data-free weight quantization").
    const legacy = await quantizeModel(new Uint8Array(fs.readFileSync(MODELS.sileroLegacy)), cfg(7), { sizes: false })
    const a = legacy.report.accuracy!
    expect(a.reached).toBe(true)
    expect(legacy.report.verification!.inputs).toBe('generated')
    expect(legacy.report.cosineSimilarity!).toBeLessThan(a.target)
    expect(a.reachedInVerification).toBe(false)
    expect(legacy.report.warnings.filter((w) => w.includes('missed in verification'))).toEqual([expect.stringMatching(/^accuracy target 0\.999 reached on the generated inputs it tuned on \(cosine 0\.99\d{4}\) but missed in verification: 0\.99\d{4} on 4 generated inputs it did not tune on/)])
    const v5 = await quantizeModel(new Uint8Array(fs.readFileSync(MODELS.sileroV5)), cfg(8), { sizes: false })
    expect(v5.report.accuracy!.reachedInVerification).toBe(true)
    expect(v5.report.cosineSimilarity!).toBeGreaterThanOrEqual(0.9999)
    expect(v5.report.warnings.filter((w) => w.includes('missed in verification'))).toEqual([])
  })
})

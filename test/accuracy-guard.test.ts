// [accuracy_guard] (our extension): after quantizing, output cosine vs fp32 is measured on
// samples held back from calibration; below min_cosine the nodes that cost the most accuracy
// go back to float (through skip_quant_node) until the target is met, or the build fails with
// the best result. Real model: the PP-OCR direction classifier at 2-bit weights, where plain
// quantization flips its decision.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import quantizeEsbuild from '../plugins/esbuild.js'
import { parseCfg } from '../src/cfg/index.js'
import { QuantizeError } from '../src/errors.js'
import { rankNodes } from '../src/guard/rank-nodes.js'
import { roundedConstants } from '../src/guard/rounded-constants.js'
import { decodeModelProto } from '../src/onnx/codec.js'
import { loadModel, saveModel } from '../src/onnx/model-file.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { makeTensor, tensorToFloat32 } from '../src/onnx/tensor-data.js'
import { gatedModel } from '../src/quant/full/gated-rounding.js'
import { quantizeModel, type QuantizeResult } from '../src/quantize-model.js'
import { collectDebugStats } from '../src/report/debug-csv/debug-stats.js'
import { summarizeDebug } from '../src/report/debug-csv/debug-summary.js'
import { seededRandom, type Feeds } from '../src/runtime/feeds.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { argmax } from './helpers/decisions.js'
import { clsSamples } from './helpers/model-inputs.js'
import { runOnce } from './helpers/ort-run.js'
import { fileURLToPath } from 'node:url'
import { MODELS } from './helpers/models.js'
import { esbuildBundle } from './helpers/bundler-build.js'

const here = path.dirname(fileURLToPath(import.meta.url))

const CLS = MODELS.cls
const cfg = (guard: Record<string, number | boolean>) => ({
  common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 2 },
  accuracy_guard: guard,
})
const run = { sizes: false, verify: false } as const

let samples: Feeds[]
let guarded: QuantizeResult

function cosine(a: Float32Array, b: Float32Array): number {
  let d = 0, na = 0, nb = 0
  for (let i = 0; i < a.length; i++) { d += a[i]! * b[i]!; na += a[i]! ** 2; nb += b[i]! ** 2 }
  return d / Math.sqrt(na * nb)
}

/** Mean over the samples of the first output's cosine, float vs quantized, run here independently. */
async function heldOutCosine(float: string | Uint8Array, quantized: Uint8Array, feeds: Feeds[], int8: 'kernels' | 'exact' = 'kernels'): Promise<number> {
  let sum = 0
  for (const f of feeds) {
    const a = Object.values(await runOnce(float, f))[0]!.data as Float32Array
    const b = Object.values(await runOnce(quantized, f, int8))[0]!.data as Float32Array
    sum += cosine(a, b)
  }
  return sum / feeds.length
}

beforeAll(async () => {
  samples = await clsSamples(8)
  guarded = await quantizeModel(CLS, cfg({ min_cosine: 0.999, max_skipped_nodes: 10 }), { ...run, samples })
})

describe('[accuracy_guard]', () => {
  it('is parsed from the cfg with its defaults, and its values are checked like the format\'s', () => {
    const base = '[common_quant_param]\nquant_type=WEIGHT_QUANT\n'
    expect(parseCfg(`${base}[accuracy_guard]\n`, 'm.cfg').accuracyGuard).toEqual({ minCosine: 0.99, autoSkip: true, maxSkippedNodes: 10 })
    expect(parseCfg(`${base}[accuracy_guard]\nmin_cosine=0.995\nauto_skip=FALSE\nmax_skipped_nodes=3\n`, 'm.cfg').accuracyGuard).toEqual({ minCosine: 0.995, autoSkip: false, maxSkippedNodes: 3 })
    expect(parseCfg(base, 'm.cfg').accuracyGuard).toBeUndefined()
    expect(() => parseCfg(`${base}[accuracy_guard]\nmin_cosine=1.5\n`, 'm.cfg')).toThrow(/^m\.cfg:4: min_cosine=1\.5 is out of range/)
    expect(parseCfg(`${base}[accuracy_guard]\nmin_cosin=0.9\n`, 'm.cfg').warnings[0]?.message).toContain("did you mean 'min_cosine'")
  })

  it('turns a failing 2-bit model into a passing one by returning the costliest nodes to float', async () => {
    const g = guarded.report.guard!
    expect(g.calibrationSamples).toBe(6)
    expect(g.heldOutSamples).toBe(2)
    expect(g.cosineBefore).toBeLessThan(0.99) // plain 2-bit quantization breaks the classifier
    expect(g.reached).toBe(true)
    expect(g.cosineAfter).toBeGreaterThanOrEqual(0.999)
    expect(g.skipped.length).toBeGreaterThan(0)
    expect(g.skipped.length).toBeLessThanOrEqual(10)
    expect(g.skipLine).toBe(`skip_quant_node=${g.skipped.join(',')}`)
    // the skipped nodes are the top of the ranking, and they really are float in the result
    expect(g.ranking.slice(0, g.skipped.length).map((r) => r.node)).toEqual(g.skipped)
    const skippedByCfg = new Set(guarded.report.skipped.filter((s) => s.reason === 'skip_quant_node').flatMap((s) => s.nodes.map((n) => n.name)))
    for (const node of g.skipped) expect(skippedByCfg.has(node)).toBe(true)
    expect(guarded.report.layers.flatMap((l) => l.nodes.map((n) => n.name)).some((n) => g.skipped.includes(n))).toBe(false)
  })

  it('reports every quantization it tried and the held-out cosine after each', async () => {
    const { steps, skipped, cosineAfter, cosineBefore } = guarded.report.guard!
    expect(steps[0]).toEqual({ skipped: [], cosine: cosineBefore })
    expect(steps.length).toBeGreaterThan(1)
    // the first step after the plain one: quantizing with its nodes skipped and measuring the
    // held-out samples independently gives the cosine it recorded
    const step = steps[1]!
    const again = await quantizeModel(CLS, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 2, skip_quant_node: step.skipped.join(',') } }, { ...run, samples: samples.slice(0, 6) })
    expect(await heldOutCosine(CLS, again.model, samples.slice(6))).toBeCloseTo(step.cosine, 6)
    // the chosen step is the fewest nodes that reached the target
    const reaching = steps.filter((s) => s.cosine >= 0.999)
    expect(Math.min(...reaching.map((s) => s.skipped.length))).toBe(skipped.length)
    expect(steps.find((s) => s.skipped.length === skipped.length)?.cosine).toBe(cosineAfter)
  })

  it('the result holds on the held-out samples when run independently: cosine and the classifier\'s decision', async () => {
    // the guard's figure: the output's cosine averaged over the held-out samples
    let sum = 0
    for (const feeds of samples.slice(6)) {
      const a = (await runOnce(CLS, feeds)) as Record<string, ort.Tensor>
      const b = (await runOnce(guarded.model, feeds)) as Record<string, ort.Tensor>
      const name = Object.keys(a)[0]!
      const x = a[name]!.data as Float32Array
      const y = b[name]!.data as Float32Array
      sum += cosine(x, y)
      expect(argmax(y)).toBe(argmax(x))
    }
    expect(sum / 2).toBeCloseTo(guarded.report.guard!.cosineAfter, 5)
    expect(sum / 2).toBeGreaterThanOrEqual(0.999)
    // and most weights stay quantized: only the guard's nodes went back to float
    expect(guarded.model.byteLength).toBeLessThan(fs.statSync(CLS).size * 0.75)
    expect(guarded.report.nodesQuantized).toBeGreaterThan(3 * guarded.report.guard!.skipped.length)
  })

  it('fails clearly, with the best result found, when the target cannot be met within max_skipped_nodes', async () => {
    const err = await quantizeModel(CLS, cfg({ min_cosine: 0.99999999, max_skipped_nodes: 2 }), { ...run, samples }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(QuantizeError)
    const message = (err as Error).message
    expect(message).toMatch(/^.*cls_infer\.onnx: \[accuracy_guard\] min_cosine=0\.99999999 not reached: output cosine 0\.\d{6} on 2 held-out sample\(s\); max_skipped_nodes=2 reached; best 0\.\d{6} with \d node\(s\) in float \(skip_quant_node=[^)]+\)$/)
  })

  it('with auto_skip=false it fails naming the nodes that cost the most', async () => {
    const err = await quantizeModel(CLS, cfg({ min_cosine: 0.999, auto_skip: false }), { ...run, samples }).catch((e: unknown) => e)
    expect((err as Error).message).toMatch(/auto_skip=false; the nodes that cost the most are .+ \(skip_quant_node=.+\)/)
    expect((err as Error).message).toContain(guarded.report.guard!.skipped[0]!)
  })

  it('needs real inputs to hold back: without calibration data or samples it is a cfg error', async () => {
    await expect(quantizeModel(CLS, cfg({ min_cosine: 0.9 }), run)).rejects.toThrow(/\[accuracy_guard\] needs real inputs to measure on: set calibrate_path/)
    await expect(quantizeModel(CLS, cfg({ min_cosine: 0.9 }), { ...run, samples: samples.slice(0, 1) })).rejects.toThrow(/needs at least 2 calibration samples/)
  })

  it('on a model with external data it measures from files but does not rank nodes: it fails saying what to do', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'guard-external-'))
    try {
      const file = path.join(dir, 'cls.onnx')
      await saveModel(loadModel(CLS).model, file, { externalData: { location: 'cls.onnx.data' } })
      const err = await quantizeModel(file, cfg({ min_cosine: 0.999 }), { ...run, samples }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(QuantizeError)
      expect((err as Error).message).toMatch(/\[accuracy_guard\] min_cosine=0\.999 not reached: output cosine 0\.\d{6} on 2 held-out sample\(s\); nodes are not ranked on a model with external data, which is not run from memory; name the nodes to keep float in skip_quant_node; best 0\.\d{6}$/)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a model that already meets the target is returned as the plain quantization, with no node skipped', async () => {
    const r = await quantizeModel(CLS, { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 }, accuracy_guard: { min_cosine: 0.99 } }, { ...run, samples })
    expect(r.report.guard).toMatchObject({ reached: true, skipped: [], skipLine: null })
    expect(r.report.guard!.steps).toHaveLength(1)
  })
})

describe('[accuracy_guard] in a bundler build (esbuild), on the cfg\'s calibration images', () => {
  let dir: string

  beforeAll(async () => {
    fs.mkdirSync(path.join(here, '.tmp'), { recursive: true })
    dir = fs.mkdtempSync(path.join(here, '.tmp/guard-app-'))
    fs.copyFileSync(CLS, path.join(dir, 'cls.onnx'))
    fs.writeFileSync(path.join(dir, 'main.js'), `import url from './cls.onnx'\nconsole.log(url)\n`)
    fs.mkdirSync(path.join(dir, 'calib'))
    // the word crops as PNG files: the cfg's IMAGE preprocessing, (x - 127.5) / 127.5, gives back the samples
    for (const [i, s] of samples.entries()) {
      const [, , h, w] = s.x!.dims as [number, number, number, number]
      const d = s.x!.data as Float32Array
      const hwc = new Uint8Array(h * w * 3)
      for (let c = 0; c < 3; c++) for (let p = 0; p < h * w; p++) hwc[p * 3 + c] = Math.round(d[c * h * w + p]! * 127.5 + 127.5)
      await sharp(hwc, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path.join(dir, 'calib', `w${i}.png`))
    }
  })

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
  })

  const writeCfg = (minCosine: number, maxSkipped = 10) => fs.writeFileSync(path.join(dir, 'cls.onnx.cfg'), [
    '[common_quant_param]', 'quant_type=WEIGHT_QUANT', 'bit_num=2',
    '[data_preprocess_param]', 'calibrate_path=x:calib', 'calibrate_size=8', 'input_type=IMAGE', 'image_to_format=RGB',
    'normalize_mean=[127.5, 127.5, 127.5]', 'normalize_std=[127.5, 127.5, 127.5]',
    '[accuracy_guard]', `min_cosine=${minCosine}`, `max_skipped_nodes=${maxSkipped}`, '',
  ].join('\n'))

  async function bundle(onError: 'error' | 'warn') {
    const outdir = path.join(dir, 'dist')
    const { warnings } = await esbuildBundle(dir, 'main.js', [quantizeEsbuild({ cacheDir: path.join(dir, '.cache'), onError, verify: false })], outdir)
    const assets = fs.readdirSync(path.join(outdir, 'assets'))
    const model = assets.find((f) => f.endsWith('.onnx'))!
    return { warnings, model: fs.readFileSync(path.join(outdir, 'assets', model)), html: fs.readFileSync(path.join(outdir, 'quantize-report.html'), 'utf8') }
  }

  it('a reachable target: the emitted model meets it and the report page shows the steps', async () => {
    writeCfg(0.999)
    const built = await bundle('error')
    expect(built.warnings).toEqual([])
    expect(built.model.byteLength).toBeLessThan(fs.statSync(CLS).size)
    expect(built.html).toContain('<h3>Accuracy guard</h3>')
    expect(built.html).toMatch(/<pre class="line">skip_quant_node=p2o\.[^<]+<\/pre>/)
    // held out by the build: the last 2 of the 8 calibration files
    let sum = 0
    for (const feeds of samples.slice(6)) {
      const a = Object.values(await runOnce(CLS, feeds))[0]!.data as Float32Array
      const b = Object.values(await runOnce(new Uint8Array(built.model), feeds))[0]!.data as Float32Array
      sum += cosine(a, b)
    }
    expect(sum / 2).toBeGreaterThanOrEqual(0.999)
  })

  it("an impossible target fails the build with the best result; onError: 'warn' warns and emits the original", async () => {
    writeCfg(0.99999999, 1)
    await expect(bundle('error')).rejects.toThrow(/cls\.onnx.*\[accuracy_guard\] min_cosine=0\.99999999 not reached.*best 0\.\d{6}/s)
    const warned = await bundle('warn')
    expect(warned.warnings.join('\n')).toMatch(/\[accuracy_guard\] min_cosine=0\.99999999 not reached: .*max_skipped_nodes=1 reached; best 0\.\d{6}.*; emitting the original model/s)
    expect(warned.model.equals(fs.readFileSync(CLS))).toBe(true)
  })
})

/** A conv weight whose output channel 0 is `gain` times the others. */
function outlierWeight(name: string, dims: number[], seed: number, gain: number) {
  const v = tensorToFloat32(randomTensor(name, dims, seed)).slice()
  const per = dims.slice(1).reduce((a, b) => a * b, 1)
  for (let i = 0; i < per; i++) v[i] = v[i]! * gain
  return makeTensor(name, DataType.FLOAT, dims, v)
}

/** A conv weight that reads input channel 0 `gain` times weaker than the others. */
function readerWeight(name: string, dims: number[], seed: number, scale: number, gain: number) {
  const v = tensorToFloat32(randomTensor(name, dims, seed, scale)).slice()
  for (let o = 0; o < dims[0]!; o++) v[o * dims[1]!] = v[o * dims[1]!]! / gain
  return makeTensor(name, DataType.FLOAT, dims, v)
}

/**
 * 1x1 convs on 12x12. `Conv_t` writes `t`, whose channel 0 is 200x the others: one uint8 scale
 * for all of `t` leaves the other 31 channels a few codes, and `Conv_u` reads those, so `t`'s
 * rounding costs the output most of its accuracy, yet `t` itself stays close to float by cosine
 * (channel 0 dominates it). The decoy branch `Conv_z` -> `Conv_d` is built the same way but adds
 * into the output 500x weaker: `Conv_d` adds the largest error of any node itself, and keeping
 * it float gains the output nothing.
 */
function costModel(): Uint8Array {
  return buildModel({
    nodes: [
      node('Conv', ['x', 'w1'], ['a']), node('Relu', ['a'], ['r']),
      node('Conv', ['r', 'w2'], ['t']), node('Conv', ['t', 'w3'], ['u']), node('Relu', ['u'], ['v']), node('Conv', ['v', 'w4'], ['y0']),
      node('Conv', ['r', 'w5'], ['z']), node('Conv', ['z', 'w6'], ['d']), node('Add', ['y0', 'd'], ['y']),
    ],
    initializers: [
      randomTensor('w1', [16, 8, 1, 1], 1, 0.5), outlierWeight('w2', [32, 16, 1, 1], 2, 200), readerWeight('w3', [16, 32, 1, 1], 3, 0.1, 200), randomTensor('w4', [8, 16, 1, 1], 4, 0.5),
      outlierWeight('w5', [32, 16, 1, 1], 5, 200), readerWeight('w6', [8, 32, 1, 1], 6, 0.002, 200),
    ],
    inputs: [valueInfo('x', DataType.FLOAT, [1, 8, 12, 12])],
    outputs: [valueInfo('y', DataType.FLOAT, [1, 8, 12, 12])],
    opset: 13,
  })
}

// The ranking tests below compare int8 compute with float exactly, so they run the int8 models as
// their ops define them, as the engine does (src/runtime/exact-int8.ts): the same on every CPU.
describe('[accuracy_guard] on FULL_QUANT: nodes ranked by what their rounding costs the output', () => {
  const model = costModel()
  const feeds: Feeds[] = Array.from({ length: 8 }, (_, k) => {
    const rand = seededRandom(300 + k)
    return { x: new ort.Tensor('float32', Float32Array.from({ length: 8 * 144 }, () => rand() * 2 - 1), [1, 8, 12, 12]) }
  })
  let dir: string
  const fullCfg = (extra: Record<string, unknown> = {}) => ({
    common_quant_param: { quant_type: 'FULL_QUANT', bit_num: 8, min_quant_weight_channel: 0 },
    // the samples come from the caller; the cfg still names where calibration data would be
    data_preprocess_param: { calibrate_path: `x:${dir}`, calibrate_size: 8, input_type: 'IMAGE' },
    ...extra,
  })

  beforeAll(() => {
    fs.mkdirSync(path.join(here, '.tmp'), { recursive: true })
    dir = fs.mkdtempSync(path.join(here, '.tmp/guard-full-'))
  })
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('returns to float the node whose tensor costs the output, not the one that adds the most error itself', async () => {
    const r = await quantizeModel(model, fullCfg({ accuracy_guard: { min_cosine: 0.999, max_skipped_nodes: 4 } }), { ...run, samples: feeds })
    const g = r.report.guard!
    expect(g.rankedBy).toBe('output-cost')
    expect(g.cosineBefore).toBeLessThan(0.9)
    // Conv_t and Conv_u both keep `t` float (skipping a node keeps its input and output float);
    // Conv_u takes fewer int8 multiply-adds with it: skipping Conv_t would also keep its input
    // `r` float, and with it Conv_a and Conv_z
    expect(g.skipped).toEqual(['Conv_u'])
    expect(g.steps).toHaveLength(2)
    expect(g.ranking[0]).toMatchObject({ node: 'Conv_u', by: 'output-cost', alsoFloat: ['Conv_t'] })
    expect(g.ranking[0]!.cost).toBeGreaterThan(0.1)
    // 12x12 pixels x output channels x input channels, of Conv_t and Conv_u
    expect(g.ranking[0]!.floatFlops).toBe(144 * (32 * 16 + 16 * 32))
    expect(r.report.full!.quantizedNodes.map((n) => n.name).sort()).toEqual(['Add_y', 'Conv_a', 'Conv_d', 'Conv_y0', 'Conv_z'])
    const after = await heldOutCosine(model, r.model, feeds.slice(6), 'exact')
    expect(after).toBeCloseTo(g.cosineAfter, 6)
    expect(after).toBeGreaterThanOrEqual(0.999)

    // the decoy: the error each node adds itself (the ranking of the other modes) puts Conv_d
    // first, and returning it to float changes nothing
    const plain = await quantizeModel(model, fullCfg(), { ...run, samples: feeds.slice(0, 6) })
    const layers = summarizeDebug(await collectDebugStats(model, plain.model, feeds.slice(0, 2), { quantiles: false, histograms: false }), plain.report.layers, { quantType: 'FULL_QUANT', skipQuantNode: [], inputs: 'calibration' }).layers
    expect(rankNodes(layers, [])[0]!.node).toBe('Conv_d')
    const decoy = await quantizeModel(model, { data_preprocess_param: fullCfg().data_preprocess_param, common_quant_param: { quant_type: 'FULL_QUANT', bit_num: 8, min_quant_weight_channel: 0, skip_quant_node: 'Conv_d' } }, { ...run, samples: feeds.slice(0, 6) })
    expect(await heldOutCosine(model, decoy.model, feeds.slice(6), 'exact')).toBeCloseTo(g.cosineBefore, 2)
    expect(g.ranking.some((x) => x.node === 'Conv_d' && x.cost > 0.001)).toBe(false)
  })

  it('measures on a gated model that is the float model with every gate 0 and the quantized model with every gate 1', async () => {
    const q = await quantizeModel(model, fullCfg(), { ...run, samples: feeds.slice(0, 6) })
    const full = q.report.full!
    const constants = roundedConstants(decodeModelProto(model), decodeModelProto(q.model))
    // every quantized conv's weight, and the bias that bias correction gave it (the float convs
    // have none), as the quantized model dequantizes them
    expect(constants.map((c) => `${c.node}:${c.input}`).sort()).toEqual(['Conv_a', 'Conv_d', 'Conv_t', 'Conv_u', 'Conv_y0', 'Conv_z'].flatMap((n) => [`${n}:1`, `${n}:2`]))
    const params = new Map(full.activations.map((a) => [a.tensor, { scale: a.scale, zeroPoint: a.zeroPoint }]))
    const { bytes, gates } = gatedModel(model, full.activations.map((a) => a.tensor), params, DataType.UINT8, constants)
    expect(gates).toHaveLength(full.activations.length + constants.length)
    const gated = (on: number) => Object.fromEntries(gates.map((g) => [g, new ort.Tensor('float32', Float32Array.of(on), [])]))
    for (const f of feeds.slice(6)) {
      const float = (await runOnce(model, f)).y!.data as Float32Array
      const quantized = (await runOnce(q.model, f, 'exact')).y!.data as Float32Array
      const off = (await runOnce(bytes, { ...f, ...gated(0) })).y!.data as Float32Array
      const on = (await runOnce(bytes, { ...f, ...gated(1) })).y!.data as Float32Array
      // the same float arithmetic, up to the kernel a computed (not constant) weight gets
      expect(off.every((v, i) => Math.abs(v - float[i]!) <= 1e-5 * (1 + Math.abs(float[i]!)))).toBe(true)
      expect(cosine(quantized, float)).toBeLessThan(0.9)
      expect(cosine(on, quantized)).toBeGreaterThan(0.999999)
    }
  })

  it('fails naming the best result when the target is out of reach', async () => {
    const err = await quantizeModel(model, fullCfg({ accuracy_guard: { min_cosine: 0.99999999, max_skipped_nodes: 1 } }), { ...run, samples: feeds }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(QuantizeError)
    expect((err as Error).message).toMatch(/\[accuracy_guard\] min_cosine=0\.99999999 not reached: output cosine 0\.\d{6} on 2 held-out sample\(s\); max_skipped_nodes=1 reached; best 0\.999\d{3} with 1 node\(s\) in float \(skip_quant_node=Conv_u\)$/)
  })
})

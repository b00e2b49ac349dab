// Bad input through the CLI's main() (in-process: the same code the bin runs, without a build):
// broken models, every class of cfg error, missing files and unwritable outputs. Each must exit
// 1 with one line on stderr that names the file and the problem, print nothing on stdout, and
// leave the folder exactly as it was: no output, no report, no `.tmp` leftovers.
import fs from 'node:fs'
import path from 'node:path'
import protobuf from 'protobufjs'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { CfgError } from '../src/cfg/index.js'
import { QuantizeError } from '../src/errors.js'
import { ModelFileError } from '../src/onnx/model-file.js'
import { quantizeModel } from '../src/quantize-model.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { ROOT, WEIGHT8_CFG, listTree, makeTmpDir, runCliInProcess } from './helpers/run-cli.js'
import { MODELS } from './helpers/models.js'

const BAD = path.join(ROOT, 'test/fixtures/bad')

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

/** A temp folder holding `model.onnx` (the given bytes, or the small real model). */
function workDir(bytes?: Uint8Array): { dir: string; model: string } {
  const dir = makeTmpDir('bad-input')
  dirs.push(dir)
  const model = path.join(dir, 'model.onnx')
  if (bytes) fs.writeFileSync(model, bytes)
  else fs.copyFileSync(MODELS.helloDeepa, model)
  return { dir, model }
}

/**
 * Run the CLI and check the failure: exit 1, nothing on stdout, one stderr line that names
 * `file` and matches `problem`, and `dir` unchanged (no output, report or temp file appeared).
 */
async function expectFailure(args: string[], dir: string, file: string, problem: RegExp): Promise<string> {
  const before = listTree(dir)
  const run = await runCliInProcess(args)
  const lines = run.stderr.split('\n').filter(Boolean)
  expect(run.code, run.stderr).toBe(1)
  expect(run.stdout).toBe('')
  expect(lines, run.stderr).toHaveLength(1)
  const line = lines[0]!
  expect(line.startsWith('unplugin-quantize: '), line).toBe(true)
  expect(line).toContain(file)
  expect(line).toMatch(problem)
  expect(listTree(dir)).toEqual(before)
  return line
}

/** protobuf bytes written field by field. */
function pb(build: (w: protobuf.Writer) => void): Uint8Array {
  const w = protobuf.Writer.create()
  build(w)
  return w.finish()
}

describe('broken model files', () => {
  const original = new Uint8Array(fs.readFileSync(MODELS.helloDeepa))
  const corrupt = /: truncated or corrupt protobuf \(.+\)$/

  const cases: { name: string; bytes: () => Uint8Array; problem: RegExp }[] = [
    { name: 'truncated to 100 bytes', bytes: () => original.subarray(0, 100), problem: corrupt },
    { name: 'truncated to half', bytes: () => original.subarray(0, original.length >> 1), problem: corrupt },
    { name: 'missing its last byte', bytes: () => original.subarray(0, original.length - 1), problem: corrupt },
    { name: 'empty', bytes: () => new Uint8Array(0), problem: /: empty file, not an ONNX model$/ },
    {
      name: 'random bytes',
      bytes: () => {
        const rnd = seededRandom(42)
        return Uint8Array.from({ length: 4096 }, () => Math.floor(rnd() * 256))
      },
      problem: /: (truncated or corrupt protobuf|not an ONNX model)/,
    },
    {
      name: 'a valid protobuf without ir_version',
      bytes: () => pb((w) => w.uint32((2 << 3) | 2).string('some-tool').uint32((3 << 3) | 2).string('1.0')),
      problem: /: not an ONNX model: no ir_version$/,
    },
    {
      name: 'a valid protobuf with an ir_version but no graph',
      bytes: () => pb((w) => w.uint32((1 << 3) | 0).int64(8).uint32((8 << 3) | 2).fork().uint32((2 << 3) | 0).int64(17).ldelim()),
      problem: /: not an ONNX model: no graph$/,
    },
    {
      name: 'a valid protobuf with an impossible ir_version',
      bytes: () => pb((w) => w.uint32((1 << 3) | 0).int64(99).uint32((7 << 3) | 2).fork().ldelim()),
      problem: /: not an ONNX model: ir_version 99 is not in 1\.\.\d+$/,
    },
    {
      name: 'a node without op_type',
      bytes: () =>
        pb((w) => {
          w.uint32((1 << 3) | 0).int64(8)
          w.uint32((8 << 3) | 2).fork().uint32((2 << 3) | 0).int64(17).ldelim()
          // graph { node { name: "n0" } }
          w.uint32((7 << 3) | 2).fork().uint32((1 << 3) | 2).fork().uint32((3 << 3) | 2).string('n0').ldelim().ldelim()
        }),
      problem: /: not an ONNX model: node #0 'n0' in graph '' has no op_type$/,
    },
    { name: 'a text file (a cfg)', bytes: () => fs.readFileSync(WEIGHT8_CFG), problem: corrupt },
  ]

  for (const c of cases) {
    it(`${c.name}: names the file and the problem, writes nothing`, async () => {
      const { dir, model } = workDir(c.bytes())
      // default output path (model.quant.onnx beside the input) and an explicit one
      await expectFailure([model, '--config', WEIGHT8_CFG], dir, model, c.problem)
      await expectFailure([model, '--config', WEIGHT8_CFG, '-o', path.join(dir, 'out.onnx'), '--report-dir', path.join(dir, 'report')], dir, model, c.problem)
    })
  }

  it('a missing model: no such file (with and without --config)', async () => {
    const { dir } = workDir()
    const missing = path.join(dir, 'missing.onnx')
    await expectFailure([missing, '--config', WEIGHT8_CFG], dir, missing, /missing\.onnx: no such file$/)
    // without --config the cfg beside the model is looked for; the missing model is still what is reported
    await expectFailure([missing], dir, missing, /missing\.onnx: no such file$/)
  })

  it('a folder given as the model', async () => {
    const { dir } = workDir()
    const sub = path.join(dir, 'folder.onnx')
    fs.mkdirSync(sub)
    await expectFailure([sub, '--config', WEIGHT8_CFG], dir, sub, /folder\.onnx: cannot read \(EISDIR\)$/)
  })
})

describe('cfg errors', () => {
  // [fixture, what the message must say after the cfg's name (and line)]
  const cases: [string, RegExp][] = [
    ['wrong-enum.cfg', /wrong-enum\.cfg:7: activation_quant_method=MINMAX is not allowed; allowed: MAX_MIN, KL, REMOVAL_OUTLIER$/],
    ['bit-num-17.cfg', /bit-num-17\.cfg:4: bit_num=17 is not allowed for WEIGHT_QUANT; allowed: an integer in \[0, 16\]$/],
    ['negative-size.cfg', /negative-size\.cfg:5: min_quant_weight_size=-1 is out of range; allowed: an integer in \[0, 65535\]$/],
    ['bit-num-nan.cfg', /bit-num-nan\.cfg:4: bit_num=eight is not an integer/],
    ['unknown-quant-type.cfg', /unknown-quant-type\.cfg:3: quant_type=INT8_QUANT is not allowed; allowed: WEIGHT_QUANT, FULL_QUANT, DYNAMIC_QUANT$/],
    ['misspelt-quant-type.cfg', /misspelt-quant-type\.cfg:3: quant_type=WEIGHT_QUAN is not allowed \(did you mean 'WEIGHT_QUANT'\?\)/],
    ['no-quant-type.cfg', /no-quant-type\.cfg: missing quant_type in \[common_quant_param\]/],
    ['full-quant-bit-9.cfg', /full-quant-bit-9\.cfg:4: bit_num=9 is not allowed for FULL_QUANT; allowed: 8$/],
    ['full-quant-no-calibration.cfg', /full-quant-no-calibration\.cfg:3: quant_type=FULL_QUANT needs calibrate_path in \[data_preprocess_param\]/],
    // a valid FULL_QUANT cfg whose calibration folder (calib/, beside it) does not exist
    ['full-quant.cfg', /full-quant\.cfg:7: calibration folder .*[\\/]bad[\\/]calib does not exist or cannot be read$/],
  ]

  for (const [fixture, problem] of cases) {
    it(`${fixture}: names the cfg and the problem, writes nothing`, async () => {
      const { dir, model } = workDir()
      const cfg = path.join(BAD, fixture)
      await expectFailure([model, '--config', cfg], dir, cfg, problem)
    })
  }

  it('the cfg, found beside the model, is named in its error too', async () => {
    const { dir, model } = workDir()
    const cfg = `${model}.cfg`
    fs.copyFileSync(path.join(BAD, 'unknown-quant-type.cfg'), cfg)
    await expectFailure([model], dir, cfg, /model\.onnx\.cfg:3: quant_type=INT8_QUANT is not allowed/)
  })

  it('a missing cfg', async () => {
    const { dir, model } = workDir()
    const cfg = path.join(dir, 'nope.cfg')
    await expectFailure([model, '--config', cfg], dir, cfg, /nope\.cfg: cannot read cfg file: no such file$/)
    await expectFailure([`--modelFile=${model}`, `--configFile=${cfg}`], dir, cfg, /cannot read cfg file: no such file$/)
  })

  it('no --config and no cfg beside the model', async () => {
    const { dir, model } = workDir()
    await expectFailure([model], dir, model, /model\.onnx: no cfg given and neither model\.onnx\.cfg nor model\.cfg exists beside it; pass --config <file\.cfg>$/)
  })

  it('a folder given as the cfg', async () => {
    const { dir, model } = workDir()
    const cfg = path.join(dir, 'cfgdir.cfg')
    fs.mkdirSync(cfg)
    await expectFailure([model, '--config', cfg], dir, cfg, /cfgdir\.cfg: cannot read cfg file: it is a directory$/)
  })
})

describe('outputs that cannot be written', () => {
  // Tests run as root, where chmod does not stop a write: a path under a regular file does.
  let dir: string
  let model: string
  beforeEach(() => {
    ;({ dir, model } = workDir())
    fs.writeFileSync(path.join(dir, 'afile'), 'not a folder\n')
  })

  it('an output path under a regular file', async () => {
    const out = path.join(dir, 'afile', 'out.onnx')
    await expectFailure([model, '--config', WEIGHT8_CFG, '-o', out], dir, out, /: cannot write output: a parent of it is a file, not a folder \(ENOTDIR\)$/)
  })

  it('an output path in a folder that does not exist', async () => {
    const out = path.join(dir, 'nodir', 'out.onnx')
    await expectFailure([model, '--config', WEIGHT8_CFG, '--outputFile', out], dir, out, /: cannot write output: its folder does not exist \(ENOENT\)$/)
  })

  it('an output path that is a folder: the temp file written beside it is removed', async () => {
    const out = path.join(dir, 'taken.onnx')
    fs.mkdirSync(out)
    await expectFailure([model, '--config', WEIGHT8_CFG, '-o', out], dir, out, /: cannot write output: it is a folder \(EISDIR\)$/)
  })

  it('a --report-dir under a regular file: no model is written either', async () => {
    const out = path.join(dir, 'out.onnx')
    const reports = path.join(dir, 'afile', 'reports')
    await expectFailure([model, '--config', WEIGHT8_CFG, '-o', out, '--report-dir', reports], dir, reports, /: cannot create the report folder: a parent of it is a file, not a folder \(ENOTDIR\)$/)
  })

  it('a --report-dir the run creates is removed again when the model cannot be written', async () => {
    const out = path.join(dir, 'afile', 'out.onnx')
    const reports = path.join(dir, 'new', 'reports')
    await expectFailure([model, '--config', WEIGHT8_CFG, '-o', out, '--report-dir', reports], dir, out, /ENOTDIR/)
    expect(fs.existsSync(path.join(dir, 'new'))).toBe(false)
  })

  it('a report path taken by a folder: the model is not left in place without its report', async () => {
    const out = path.join(dir, 'out.onnx')
    const reports = path.join(dir, 'reports')
    fs.mkdirSync(path.join(reports, 'out.quant.json'), { recursive: true })
    await expectFailure([model, '--config', WEIGHT8_CFG, '-o', out, '--report-dir', reports], dir, path.join(reports, 'out.quant.json'), /: cannot write output: it is a folder \(EISDIR\)$/)
  })
})

describe('the library API reports the same problems as errors naming the file', () => {
  it('a truncated model file: ModelFileError with the path', async () => {
    const { model } = workDir(fs.readFileSync(MODELS.helloDeepa).subarray(0, 1000))
    const err = await quantizeModel(model, WEIGHT8_CFG, { verify: false }).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(ModelFileError)
    expect((err as ModelFileError).file).toBe(model)
    expect((err as Error).message).toMatch(/^.*model\.onnx: truncated or corrupt protobuf/)
  })

  it('broken model bytes: QuantizeError naming <bytes>', async () => {
    const err = await quantizeModel(new Uint8Array([8, 200]), WEIGHT8_CFG, { verify: false }).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(QuantizeError)
    expect((err as QuantizeError).file).toBe('<bytes>')
    expect((err as Error).message).toMatch(/^<bytes>: not a valid ONNX protobuf/)
  })

  it('a cfg error: CfgError with the cfg path and line', async () => {
    const cfg = path.join(BAD, 'bit-num-17.cfg')
    const err = await quantizeModel(MODELS.helloDeepa, cfg, { verify: false }).then(() => null, (e: unknown) => e)
    expect(err).toBeInstanceOf(CfgError)
    expect((err as CfgError).file).toBe(cfg)
    expect((err as CfgError).line).toBe(4)
    expect((err as CfgError).key).toBe('bit_num')
  })

  it('valid DYNAMIC_QUANT and bit_num=0 cfgs among the bad ones quantize: exit 0, model and nothing else written', async () => {
    for (const fixture of ['dynamic-quant.cfg', 'mixed-bit-0.cfg']) {
      const { dir, model } = workDir()
      const run = await runCliInProcess([model, '--config', path.join(BAD, fixture)])
      expect(run.code, run.stderr).toBe(0)
      expect(listTree(dir)).toEqual(['model.onnx', 'model.quant.onnx'])
      const { report } = await quantizeModel(MODELS.helloDeepa, path.join(BAD, fixture), { sizes: false })
      expect(report.cosineSimilarity).toBeGreaterThanOrEqual(0.995)
      if (fixture === 'dynamic-quant.cfg') {
        // two Gemms int8; the last one, the output head before the Sigmoid, stays float
        expect(report.dynamic!.int8).toHaveLength(2)
        expect(report.dynamic!.float.map((f) => f.reason)).toEqual([expect.stringMatching(/output head/)])
      } else expect(report.mixedBit!.layers).toHaveLength(3)
    }
  })
})

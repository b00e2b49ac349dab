// The CLI as users run it: the built bin in a child process, on copies of real models in temp
// folders under test/.tmp/. dist/ is built once per run first (test/setup/build-dist.ts).
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { loadModel, saveModel } from '../src/onnx/model-file.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { generatedFeeds, inputSpecs } from '../src/runtime/feeds.js'
import { BIN, ROOT, WEIGHT8_CFG, listTree, makeTmpDir, runCli, runCliInProcess } from './helpers/run-cli.js'
import { escapeRegExp } from './helpers/escape-regexp.js'
import { clsImageCfg, clsSamples, writeClsImages } from './helpers/model-inputs.js'
import { MODELS } from './helpers/models.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { DataType } from '../src/onnx/onnx-types.js'

/** PP-OCRv4 det, 4.5 MB: seconds of quantizing on the default path. */
const DET = MODELS.det

const cfgText = (bits: number): string => `[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=${bits}\nmin_quant_weight_size=0\nmin_quant_weight_channel=16\n`

/** How long the CLI may take to quantize silero v5 and exit once stdout's reader is gone (about 2 s normally). */
const EPIPE_EXIT_MS = 60_000

/** The fields the issue requires of --json. */
const REQUIRED = ['input', 'output', 'quantType', 'bitNum', 'sizeIn', 'sizeOut', 'durationMs', 'nodesQuantized', 'nodesSkipped', 'cosineSimilarity'] as const

let root: string
beforeAll(() => {
  root = makeTmpDir('cli')
})
afterAll(() => {
  if (root) fs.rmSync(root, { recursive: true, force: true })
})

/** A folder under the test's temp root with a copy of `model` named `name`. */
function folderWith(sub: string, model: string, name: string): { dir: string; file: string } {
  const dir = path.join(root, sub)
  fs.mkdirSync(dir, { recursive: true })
  const file = path.join(dir, name)
  fs.copyFileSync(model, file)
  return { dir, file }
}

/** Parse stdout as exactly one line of JSON. */
function oneJson(stdout: string): Record<string, unknown> {
  const lines = stdout.split('\n').filter(Boolean)
  expect(lines, stdout).toHaveLength(1)
  return JSON.parse(lines[0]!) as Record<string, unknown>
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0
  let na = 0
  let nb = 0
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!
    na += a[i]! * a[i]!
    nb += b[i]! * b[i]!
  }
  return dot / Math.sqrt(na * nb)
}

describe('unplugin-quantize <model> --json', () => {
  it('quantizes, prints the report as one JSON object, and the output runs in onnxruntime-node', async () => {
    const { dir, file } = folderWith('json', MODELS.cls, 'cls.onnx')
    const out = path.join(dir, 'cls.int8.onnx')
    const run = await runCli([file, '--config', WEIGHT8_CFG, '--json', '--out', out])
    expect(run.code, run.stderr).toBe(0)
    const report = oneJson(run.stdout)
    for (const key of REQUIRED) expect(report, `missing ${key}`).toHaveProperty(key)
    expect(report).toMatchObject({ input: file, output: out, quantType: 'WEIGHT_QUANT', bitNum: 8 })
    expect(report.sizeIn).toBe(fs.statSync(file).size)
    expect(report.sizeOut).toBe(fs.statSync(out).size)
    expect(report.sizeOut as number).toBeLessThan((report.sizeIn as number) * 0.6)
    expect(report.durationMs).toBeTypeOf('number')
    expect(report.durationMs as number).toBeGreaterThanOrEqual(0)
    expect(report.nodesQuantized as number).toBeGreaterThan(0)
    expect(report.nodesSkipped).toBeTypeOf('number')
    expect(report.cosineSimilarity as number).toBeGreaterThan(0.999)
    expect(report.cosineSimilarity as number).toBeLessThanOrEqual(1 + 1e-9)
    // only the input and the output are in the folder: no temp files, no report without --report-dir
    expect(listTree(dir)).toEqual(['cls.int8.onnx', 'cls.onnx'])

    // the output loads and runs, with the float model's input and output names, and agrees with it
    const [float, quant] = await Promise.all([ort.InferenceSession.create(file), ort.InferenceSession.create(out)])
    try {
      expect(quant.inputNames).toEqual(float.inputNames)
      expect(quant.outputNames).toEqual(float.outputNames)
      const feeds = generatedFeeds(inputSpecs(decodeModelProto(fs.readFileSync(file))), 7)
      const [a, b] = [await float.run(feeds), await quant.run(feeds)]
      for (const name of float.outputNames) {
        expect(b[name]!.dims).toEqual(a[name]!.dims)
        expect(cosine(a[name]!.data as Float32Array, b[name]!.data as Float32Array)).toBeGreaterThan(0.999)
      }
    } finally {
      await Promise.all([float.release(), quant.release()])
    }
  })

  it('without --json prints a one-line summary naming input and output', async () => {
    const { dir, file } = folderWith('summary', MODELS.helloDeepa, 'hd.onnx')
    const run = await runCli([file, '--config', WEIGHT8_CFG], { cwd: dir })
    expect(run.code, run.stderr).toBe(0)
    const lines = run.stdout.split('\n').filter(Boolean)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(new RegExp(`^${escapeRegExp(file)} -> .*hd\\.quant\\.onnx: WEIGHT_QUANT 8 bit, \\d+ nodes quantized`))
    expect(fs.existsSync(path.join(dir, 'hd.quant.onnx'))).toBe(true)
  })
})

describe('-o - (the model on stdout)', () => {
  it('writes the same bytes -o <file> writes, the summary on stderr, and no file; --report-dir names the JSON after the model', async () => {
    const { dir, file } = folderWith('stdout', MODELS.cls, 'cls.onnx')
    const piped = await runCli([file, '--config', WEIGHT8_CFG, '-o', '-', '--report-dir', path.join(dir, 'report')])
    expect(piped.code, piped.stderr).toBe(0)
    const lines = piped.stderr.split('\n').filter(Boolean)
    expect(lines.at(-1)).toMatch(/ -> stdout: WEIGHT_QUANT 8 bit, \d+ nodes quantized/)
    const toFile = await runCli([file, '--config', WEIGHT8_CFG, '-o', path.join(dir, 'file.onnx')])
    expect(toFile.code, toFile.stderr).toBe(0)
    expect(piped.stdoutBytes.equals(fs.readFileSync(path.join(dir, 'file.onnx')))).toBe(true)
    expect(listTree(dir).filter((f) => !f.startsWith('report/'))).toEqual(['cls.onnx', 'file.onnx'])
    expect(fs.existsSync(path.join(dir, 'report', 'cls.quant.json'))).toBe(true)
    // the piped bytes are a model onnxruntime runs, close to the float one
    const samples = [generatedFeeds(inputSpecs(decodeModelProto(fs.readFileSync(file))), 3)]
    expect((await compareModels(file, new Uint8Array(piped.stdoutBytes), samples)).cosine).toBeGreaterThan(0.999)
  })

  it.skipIf(process.platform === 'win32')('-o /dev/stdout is -o -: the same bytes on stdout, the summary on stderr, no file', async () => {
    // followed as a link, /dev/stdout leads to a pipe under /proc ("its folder does not exist")
    const { dir, file } = folderWith('dev-stdout', MODELS.cls, 'cls.onnx')
    const dash = await runCli([file, '--config', WEIGHT8_CFG, '-o', '-'])
    const dev = await runCli([file, '--config', WEIGHT8_CFG, '-o', '/dev/stdout'])
    expect(dev.code, dev.stderr).toBe(0)
    expect(dev.stderr.split('\n').filter(Boolean).at(-1)).toMatch(/ -> stdout: WEIGHT_QUANT 8 bit/)
    expect(dev.stdoutBytes.equals(dash.stdoutBytes)).toBe(true)
    expect(listTree(dir)).toEqual(['cls.onnx'])
  })

  it('with --json (both on stdout), or when stdout is a terminal: a usage error, nothing written', async () => {
    const { dir, file } = folderWith('stdout-usage', MODELS.cls, 'cls.onnx')
    const json = await runCli([file, '--config', WEIGHT8_CFG, '-o', '-', '--json'])
    expect([json.code, json.stdout, json.stderr]).toEqual([2, '', 'unplugin-quantize: -o - and --json both write to stdout; give -o a file name, or drop --json (see --help)\n'])
    const tty = await runCliInProcess([file, '--config', WEIGHT8_CFG, '-o', '-'], { stdoutIsTTY: true })
    expect([tty.code, tty.stdout, tty.stderr]).toEqual([2, '', 'unplugin-quantize: -o - would write the model to a terminal; redirect stdout to a file or give -o a file name (see --help)\n'])
    expect(listTree(dir)).toEqual(['cls.onnx'])
  })

  it('a reader that closes stdout early (`| head -c 100`): exit 1 with one line, no stack', async () => {
    const { file } = folderWith('stdout-epipe', MODELS.sileroV5, 'vad.onnx')
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, file, '--config', WEIGHT8_CFG, '-o', '-'], { stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      let closed = false
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
      // A CLI that hangs on the closed pipe would stall the run: kill it and say so. The bound is
      // far above the 2 s this takes and below the test's timeout, which would leave the child
      // running and say only that the test took too long.
      const timer = setTimeout(() => {
        child.kill('SIGKILL')
        const where = closed ? 'after its reader closed stdout' : 'and wrote nothing to stdout'
        reject(new Error(`the CLI did not exit within ${EPIPE_EXIT_MS / 1000} s (${where}); killed it. Its stderr:\n${stderr}`))
      }, EPIPE_EXIT_MS)
      // the first chunk of the model, then the reader is gone
      child.stdout.once('data', () => {
        closed = true
        child.stdout.destroy()
      })
      child.on('error', (err) => {
        clearTimeout(timer)
        reject(err)
      })
      child.on('close', (code) => {
        clearTimeout(timer)
        resolve({ code, stderr })
      })
    })
    // one line: no success summary before it (the summary waits for the model to be all written)
    expect(result.code).toBe(1)
    expect(result.stderr).toBe('unplugin-quantize: stdout: closed by its reader before the model was all written\n')
    expect(result.stderr).not.toMatch(/^\s+at /m)
  }, EPIPE_EXIT_MS + 30_000)

  it('a model with external data: refused before any work (stdout carries one file)', async () => {
    const { dir } = folderWith('stdout-external', MODELS.cls, 'inline.onnx')
    await saveModel(loadModel(path.join(dir, 'inline.onnx')).model, path.join(dir, 'cls.onnx'), { externalData: { location: 'cls.onnx.data' } })
    fs.rmSync(path.join(dir, 'inline.onnx'))
    const run = await runCli(['cls.onnx', '--config', WEIGHT8_CFG, '-o', '-'], { cwd: dir })
    expect([run.code, run.stdout, run.stderr]).toEqual([1, '', 'unplugin-quantize: cls.onnx: the model keeps its weights in an external data file, and so will its output, which stdout cannot carry; give -o a file name\n'])
    expect(listTree(dir)).toEqual(['cls.onnx', 'cls.onnx.data'])
  })
})

describe('an output that is a symbolic link', () => {
  it.skipIf(process.platform === 'win32')('through a linked folder and a `..` in the link, the model lands where the kernel would put it', async () => {
    const { dir } = folderWith('symlink-dotdot', MODELS.cls, 'cls.onnx')
    // out -> real/out, and out/model.onnx -> ../models/m.onnx: the kernel resolves the `..` from real/out
    fs.mkdirSync(path.join(dir, 'real', 'out'), { recursive: true })
    fs.mkdirSync(path.join(dir, 'real', 'models'))
    fs.mkdirSync(path.join(dir, 'models'))
    fs.writeFileSync(path.join(dir, 'real', 'models', 'm.onnx'), 'old')
    fs.writeFileSync(path.join(dir, 'models', 'm.onnx'), 'unrelated')
    fs.symlinkSync(path.join('real', 'out'), path.join(dir, 'out'))
    fs.symlinkSync(path.join('..', 'models', 'm.onnx'), path.join(dir, 'real', 'out', 'model.onnx'))
    const run = await runCli(['cls.onnx', '--config', WEIGHT8_CFG, '-o', 'out/model.onnx'], { cwd: dir })
    expect(run.code, run.stderr).toBe(0)
    expect(fs.readFileSync(path.join(dir, 'models', 'm.onnx'), 'utf8')).toBe('unrelated')
    decodeModelProto(fs.readFileSync(path.join(dir, 'real', 'models', 'm.onnx')))
    expect(fs.lstatSync(path.join(dir, 'real', 'out', 'model.onnx')).isSymbolicLink()).toBe(true)
  })

  it.skipIf(process.platform === 'win32')('is written through: the link stays and its target gets the model; a link to the input is refused; a loop is named', async () => {
    const { dir, file } = folderWith('symlink', MODELS.cls, 'cls.onnx')
    fs.mkdirSync(path.join(dir, 'store'))
    fs.writeFileSync(path.join(dir, 'store', 'current.onnx'), 'old')
    fs.symlinkSync(path.join('store', 'current.onnx'), path.join(dir, 'current.onnx'))
    const run = await runCli(['cls.onnx', '--config', WEIGHT8_CFG, '-o', 'current.onnx'], { cwd: dir })
    expect(run.code, run.stderr).toBe(0)
    expect(fs.lstatSync(path.join(dir, 'current.onnx')).isSymbolicLink()).toBe(true)
    const written = fs.readFileSync(path.join(dir, 'store', 'current.onnx'))
    expect(written.length).toBeGreaterThan(1000)
    decodeModelProto(written)
    expect(listTree(path.join(dir, 'store'))).toEqual(['current.onnx'])

    fs.symlinkSync('cls.onnx', path.join(dir, 'to-input.onnx'))
    const before = fs.readFileSync(file)
    const refused = await runCli(['cls.onnx', '--config', WEIGHT8_CFG, '-o', 'to-input.onnx'], { cwd: dir })
    expect([refused.code, refused.stderr]).toEqual([1, 'unplugin-quantize: to-input.onnx: the output would overwrite the input model; choose another --out\n'])
    expect(fs.readFileSync(file).equals(before)).toBe(true)

    fs.symlinkSync('loop-b.onnx', path.join(dir, 'loop-a.onnx'))
    fs.symlinkSync('loop-a.onnx', path.join(dir, 'loop-b.onnx'))
    const loop = await runCli(['cls.onnx', '--config', WEIGHT8_CFG, '-o', 'loop-a.onnx'], { cwd: dir })
    expect([loop.code, loop.stderr]).toEqual([1, 'unplugin-quantize: loop-a.onnx: cannot write output: its symbolic links go round in a loop (ELOOP)\n'])
    expect(listTree(dir).filter((f) => !f.startsWith('store/'))).toEqual(['cls.onnx', 'current.onnx', 'loop-a.onnx', 'loop-b.onnx', 'to-input.onnx'])
  })
})

describe('an output that exists and is no regular file, or is one', () => {
  it.skipIf(process.platform === 'win32')('a FIFO is written into, as the shell\'s > does, and stays a FIFO', async () => {
    const { dir } = folderWith('fifo', MODELS.cls, 'cls.onnx')
    const fifo = path.join(dir, 'pipe.onnx')
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0)
    // the reader, a child so that it can be killed if the CLI never opens the pipe; bounded, so
    // that a CLI exiting without writing cannot leave the test (and cat) waiting
    const cat = spawn('cat', [fifo], { stdio: ['ignore', 'pipe', 'ignore'] })
    const chunks: Buffer[] = []
    cat.stdout.on('data', (d: Buffer) => chunks.push(d))
    let timer: NodeJS.Timeout | undefined
    const closed = new Promise<void>((resolve, reject) => {
      cat.on('close', () => resolve())
      timer = setTimeout(() => reject(new Error('the pipe\'s reader saw no end within 60 s')), 60_000)
    }).finally(() => clearTimeout(timer))
    try {
      const run = await runCli(['cls.onnx', '--config', WEIGHT8_CFG, '-o', 'pipe.onnx'], { cwd: dir })
      expect(run.code, run.stderr).toBe(0)
      expect(fs.lstatSync(fifo).isFIFO()).toBe(true)
      await closed
    } finally {
      cat.kill('SIGKILL')
    }
    const written = path.join(dir, 'from-pipe.onnx')
    fs.writeFileSync(written, Buffer.concat(chunks))
    expect((await compareModels(MODELS.cls, written, await clsSamples(4, 7000))).cosine).toBeGreaterThan(0.999)
    expect(listTree(dir)).toEqual(['cls.onnx', 'from-pipe.onnx', 'pipe.onnx'])
  })

  it.skipIf(process.platform === 'win32')('a FIFO nobody reads when the model is written: one line, nothing written (no open() that no signal can stop)', async () => {
    const { dir } = folderWith('fifo-unread', MODELS.cls, 'cls.onnx')
    expect(spawnSync('mkfifo', [path.join(dir, 'pipe.onnx')]).status).toBe(0)
    const run = await runCli(['cls.onnx', '--config', WEIGHT8_CFG, '-o', 'pipe.onnx', '--report-dir', 'rep'], { cwd: dir, timeoutMs: 60_000 })
    expect([run.code, run.stderr]).toEqual([1, 'unplugin-quantize: pipe.onnx: cannot write output: it is a FIFO that no process is reading (ENXIO)\n'])
    expect(listTree(dir)).toEqual(['cls.onnx', 'pipe.onnx'])
  })

  it.skipIf(process.platform === 'win32')('a regular file is replaced whole and keeps its permissions', async () => {
    const { dir } = folderWith('mode', MODELS.cls, 'cls.onnx')
    const out = path.join(dir, 'private.onnx')
    fs.writeFileSync(out, 'old', { mode: 0o600 })
    fs.chmodSync(out, 0o600)
    const run = await runCli(['cls.onnx', '--config', WEIGHT8_CFG, '-o', 'private.onnx'], { cwd: dir })
    expect(run.code, run.stderr).toBe(0)
    expect(fs.statSync(out).mode & 0o777).toBe(0o600)
    expect((await compareModels(MODELS.cls, out, await clsSamples(4, 7000))).cosine).toBeGreaterThan(0.999)
  })
})

describe("the cfg's own folders, checked before any work", () => {
  // a truncated model: an error about it would mean the run got past the output checks
  const truncated = (dir: string): void => {
    const bytes = fs.readFileSync(MODELS.cls)
    fs.writeFileSync(path.join(dir, 'cls.onnx'), bytes.subarray(0, bytes.length >> 1))
  }

  it('debug_info_save_path at the output, or where a file stands: refused, nothing written', async () => {
    const { dir } = folderWith('debug-clash', MODELS.cls, 'unused.onnx')
    truncated(dir)
    fs.writeFileSync(path.join(dir, 'at-out.cfg'), '[common_quant_param]\nquant_type=WEIGHT_QUANT\ndebug_info_save_path=clash.onnx\n')
    const atOut = await runCli(['cls.onnx', '--config', 'at-out.cfg', '-o', 'clash.onnx'], { cwd: dir })
    expect([atOut.code, atOut.stderr]).toEqual([1, `unplugin-quantize: ${path.join(dir, 'clash.onnx')}: the cfg's debug_info_save_path folder would be made at or under the output file; choose another debug_info_save_path\n`])
    fs.writeFileSync(path.join(dir, 'on-file.cfg'), '[common_quant_param]\nquant_type=WEIGHT_QUANT\ndebug_info_save_path=unused.onnx\n')
    const onFile = await runCli(['cls.onnx', '--config', 'on-file.cfg', '-o', 'out.onnx'], { cwd: dir })
    expect([onFile.code, onFile.stderr]).toEqual([1, `unplugin-quantize: ${path.join(dir, 'unused.onnx')}: cannot create the cfg's debug_info_save_path folder: a file of that name is in the way (EEXIST)\n`])
    expect(listTree(dir)).toEqual(['at-out.cfg', 'cls.onnx', 'on-file.cfg', 'unused.onnx'])
  })

  it('an output that would be a calibration file: refused, the file kept; a model beside them is fine, run after run', async () => {
    const { dir } = folderWith('over-calibration', MODELS.cls, 'unused.onnx')
    truncated(dir)
    await writeClsImages(path.join(dir, 'crops'), 2)
    const before = fs.readFileSync(path.join(dir, 'crops', 'c000.png'))
    const pre = Object.entries(clsImageCfg('crops', 2)).map(([k, v]) => `${k}=${v}`).join('\n')
    fs.writeFileSync(path.join(dir, 'full.cfg'), `[common_quant_param]\nquant_type=FULL_QUANT\n[data_preprocess_param]\n${pre}\n`)
    const run = await runCli(['cls.onnx', '--config', 'full.cfg', '-o', 'crops/c000.png'], { cwd: dir })
    expect([run.code, run.stderr]).toEqual([1, `unplugin-quantize: crops/c000.png: the output would be a calibration file of ${path.join(dir, 'crops')}; choose another --out\n`])
    expect(fs.readFileSync(path.join(dir, 'crops', 'c000.png')).equals(before)).toBe(true)
    // a new image there would be read on the next run too
    const fresh = await runCli(['cls.onnx', '--config', 'full.cfg', '-o', 'crops/new.png'], { cwd: dir })
    expect(fresh.code).toBe(1)
    expect(fs.existsSync(path.join(dir, 'crops', 'new.png'))).toBe(false)
    // a model is no calibration file: written there, and again over itself (a whole model this time)
    fs.copyFileSync(MODELS.cls, path.join(dir, 'cls.onnx'))
    for (const attempt of [1, 2]) {
      const ok = await runCli(['cls.onnx', '--config', 'full.cfg', '-o', 'crops/cls.quant.onnx'], { cwd: dir })
      expect([attempt, ok.code, ok.stderr]).toEqual([attempt, 0, ''])
    }
  })
})

describe('folders the CLI may not write to', () => {
  // root writes anywhere: as root the CLI runs without the capabilities that override file
  // permissions (setpriv, util-linux), still as root, so it reads the checkout wherever it is
  const asRoot = process.getuid?.() === 0
  const drop = ['--bounding-set=-dac_override,-dac_read_search', '--inh-caps=-dac_override,-dac_read_search']
  const canDrop = !asRoot || spawnSync('setpriv', [...drop, 'true']).status === 0
  it.skipIf(process.platform === 'win32' || !canDrop)('an -o or --report-dir in a read-only folder: refused before any work, nothing written', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-read-only-'))
    try {
      // a truncated model: an error about it would mean the run got past the output checks
      const bytes = fs.readFileSync(MODELS.sileroV5)
      fs.writeFileSync(path.join(dir, 'vad.onnx'), bytes.subarray(0, bytes.length >> 1))
      fs.mkdirSync(path.join(dir, 'ro'), { mode: 0o555 })
      fs.chmodSync(path.join(dir, 'ro'), 0o555)
      const run = (args: string[]) => {
        const argv = [BIN, 'vad.onnx', '--config', WEIGHT8_CFG, ...args]
        const [cmd, cmdArgs] = asRoot ? ['setpriv', [...drop, process.execPath, ...argv]] : [process.execPath, argv]
        const r = spawnSync(cmd, cmdArgs, { cwd: dir, encoding: 'utf8' })
        return [r.status, r.stderr]
      }
      expect(run(['-o', 'ro/out.onnx'])).toEqual([1, 'unplugin-quantize: ro/out.onnx: cannot write output: permission denied (EACCES)\n'])
      expect(run(['-o', 'out.onnx', '--report-dir', 'ro/report'])).toEqual([1, 'unplugin-quantize: ro/report: cannot create the report folder: permission denied (EACCES)\n'])
      expect(run(['-o', 'out.onnx', '--report-dir', 'ro'])).toEqual([1, 'unplugin-quantize: ro: cannot create the report folder: permission denied (EACCES)\n'])
      expect(listTree(dir)).toEqual(['ro/', 'vad.onnx'])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('signals', () => {
  it('SIGINT or SIGTERM while quantizing: one line, the process ends by that signal, nothing is left beside the model', async () => {
    // The signal goes as soon as the CLI has its handlers in place, at the start of det's seconds
    // of quantizing: before any output, report folder or (det has no external data) verification
    // temp folder exists, so the folder check guards against a write started early, not cleanup
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const { dir, file } = folderWith(`signal-${signal}`, DET, 'det.onnx')
      const run = await runCli([file, '--config', WEIGHT8_CFG, '--report-dir', path.join(dir, 'report')], { signal })
      // raised again after the message: a shell reports 130 for SIGINT, 143 for SIGTERM
      expect([run.code, run.signal, run.stderr], signal).toEqual([null, signal, `unplugin-quantize: ${signal}: stopped before writing the model\n`])
      expect(listTree(dir), signal).toEqual(['det.onnx'])
    }
  })
})

describe('defaults', () => {
  it('finds <name>.onnx.cfg first, then <name>.cfg, and writes <name>.quant.onnx beside the input', async () => {
    const { dir } = folderWith('discovery', MODELS.helloDeepa, 'wake.onnx')
    // different bit widths tell which cfg was used
    fs.writeFileSync(path.join(dir, 'wake.onnx.cfg'), cfgText(6))
    fs.writeFileSync(path.join(dir, 'wake.cfg'), cfgText(4))

    // a relative model path, run from the model's folder
    const first = await runCli(['wake.onnx', '--json'], { cwd: dir })
    expect(first.code, first.stderr).toBe(0)
    expect(oneJson(first.stdout)).toMatchObject({ bitNum: 6, config: 'wake.onnx.cfg', output: 'wake.quant.onnx' })
    expect(fs.existsSync(path.join(dir, 'wake.quant.onnx'))).toBe(true)

    fs.rmSync(path.join(dir, 'wake.onnx.cfg'))
    fs.rmSync(path.join(dir, 'wake.quant.onnx'))
    // an absolute path, run from elsewhere: the cfg and the output are still beside the model
    const model = path.join(dir, 'wake.onnx')
    const second = await runCli([model, '--json'])
    expect(second.code, second.stderr).toBe(0)
    expect(oneJson(second.stdout)).toMatchObject({ bitNum: 4, config: path.join(dir, 'wake.cfg'), output: path.join(dir, 'wake.quant.onnx') })
    expect(listTree(dir)).toEqual(['wake.cfg', 'wake.onnx', 'wake.quant.onnx'])
  })

  it('without any cfg, says which files it looked for', async () => {
    const { dir, file } = folderWith('nocfg', MODELS.helloDeepa, 'lonely.onnx')
    const run = await runCli([file])
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe(`unplugin-quantize: ${file}: no cfg given and neither lonely.onnx.cfg nor lonely.cfg exists beside it; pass --config <file.cfg>\n`)
    expect(listTree(dir)).toEqual(['lonely.onnx'])
  })
})

describe("converter_lite's spellings", () => {
  it('--fmk=ONNX --modelFile= --configFile= --outputFile= (a name not ending in .onnx gets it)', async () => {
    const { dir, file } = folderWith('converter', MODELS.helloDeepa, 'hd_v2.1.onnx')
    const run = await runCli(['--fmk=ONNX', `--modelFile=${file}`, `--configFile=${WEIGHT8_CFG}`, `--outputFile=${path.join(dir, 'hd_v2.1_int8')}`, '--json'])
    expect(run.code, run.stderr).toBe(0)
    expect(oneJson(run.stdout)).toMatchObject({ input: file, output: path.join(dir, 'hd_v2.1_int8.onnx'), config: WEIGHT8_CFG })
    expect(listTree(dir)).toEqual(['hd_v2.1.onnx', 'hd_v2.1_int8.onnx'])
    const tf = await runCli(['--fmk=TF', `--modelFile=${file}`])
    expect([tf.code, tf.stderr]).toEqual([2, 'unplugin-quantize: --fmk=TF: only ONNX models are read (see --help)\n'])
  })

  it("--quantType, as the format's mixed-bit command line gives it, must agree with the cfg", async () => {
    // before: "unknown option '--quantType'" for the reference's own
    // converter_lite --fmk=... --modelFile=... --outputFile=... --quantType=WeightQuant --configFile=...
    const { dir, file } = folderWith('converter-quant-type', MODELS.helloDeepa, 'hd.onnx')
    const run = await runCli(['--fmk=ONNX', `--modelFile=${file}`, `--outputFile=${path.join(dir, 'hd_w')}`, '--quantType=WeightQuant', `--configFile=${WEIGHT8_CFG}`])
    expect(run.code, run.stderr).toBe(0)
    expect(listTree(dir)).toEqual(['hd.onnx', 'hd_w.onnx'])
    // the cfg decides the mode: a --quantType naming another one is refused before any work
    const full = await runCli([`--modelFile=${file}`, `--outputFile=${path.join(dir, 'hd_f')}`, '--quantType=PostTraining', `--configFile=${WEIGHT8_CFG}`])
    expect([full.code, full.stderr]).toEqual([1, `unplugin-quantize: ${WEIGHT8_CFG}: --quantType=PostTraining asks for FULL_QUANT, but the cfg says quant_type=WEIGHT_QUANT; the cfg decides the mode: drop --quantType or change quant_type\n`])
    const bad = await runCli([`--modelFile=${file}`, '--quantType=Int8', `--configFile=${WEIGHT8_CFG}`])
    expect([bad.code, bad.stderr]).toEqual([2, 'unplugin-quantize: --quantType=Int8 is not a quantization type; allowed: WeightQuant, PostTraining (or the cfg\'s WEIGHT_QUANT, FULL_QUANT, DYNAMIC_QUANT) (see --help)\n'])
    expect(listTree(dir)).toEqual(['hd.onnx', 'hd_w.onnx'])
  })

  it('--outputFile with an extension keeps it', async () => {
    const { dir, file } = folderWith('converter-ext', MODELS.helloDeepa, 'hd.onnx')
    const run = await runCli([`--modelFile=${file}`, `--configFile=${WEIGHT8_CFG}`, `--outputFile=${path.join(dir, 'q.onnx')}`])
    expect(run.code, run.stderr).toBe(0)
    expect(listTree(dir)).toEqual(['hd.onnx', 'q.onnx'])
  })
})

describe('--report-dir', () => {
  it('writes <output name>.quant.json with the --json fields and the per-layer rows', async () => {
    const { dir, file } = folderWith('report', MODELS.helloDeepa, 'hd.onnx')
    const reports = path.join(dir, 'reports', 'nested')
    const out = path.join(dir, 'hd-q.onnx')
    const run = await runCli([file, '--config', WEIGHT8_CFG, '-o', out, '--report-dir', reports, '--json'])
    expect(run.code, run.stderr).toBe(0)
    const printed = oneJson(run.stdout)
    // with the HTML report and the format's debug CSVs (test/debug-reports.test.ts checks their content)
    expect(fs.readdirSync(reports).sort()).toEqual(['hd-q.quant.json', 'output_summary.csv', 'quant_param.csv', 'quantize-report.html', 'report_0.csv'])
    const saved = JSON.parse(fs.readFileSync(path.join(reports, 'hd-q.quant.json'), 'utf8')) as Record<string, unknown>
    for (const key of REQUIRED) expect(saved[key], key).toEqual(printed[key])
    expect(saved.output).toBe(out)
    expect(Array.isArray(saved.layers) && saved.layers.length).toBe(printed.nodesQuantized)
    // the default output, hd.quant.onnx, gives hd.quant.json
    const byDefault = await runCli([file, '--config', WEIGHT8_CFG, '--report-dir', path.join(dir, 'plain')])
    expect(byDefault.code, byDefault.stderr).toBe(0)
    expect(fs.readdirSync(path.join(dir, 'plain'))).toContain('hd.quant.json')
  })

  it("a second run into the same folder leaves no report_<n>.csv of the first (FULL_QUANT's rounds)", async () => {
    const { dir, file } = folderWith('report-again', MODELS.helloDeepa, 'hd.onnx')
    const reports = path.join(dir, 'reports')
    fs.mkdirSync(reports)
    // as a FULL_QUANT run with three rounds would have left them
    for (const n of [1, 2, 3]) fs.writeFileSync(path.join(reports, `report_${n}.csv`), 'stale\n')
    const run = await runCli([file, '--config', WEIGHT8_CFG, '--report-dir', reports])
    expect(run.code, run.stderr).toBe(0)
    expect(fs.readdirSync(reports).filter((f) => f.startsWith('report_'))).toEqual(['report_0.csv'])
  })

  // Node's recursive mkdir spins forever where mkdir answers ENOENT under an existing parent
  it.skipIf(!fs.existsSync('/proc/self'))('a report folder under /proc, or a debug_info_save_path there: a one-line error, not a hang; no output written', async () => {
    const { dir, file } = folderWith('report-proc', MODELS.helloDeepa, 'hd.onnx')
    const out = path.join(dir, 'hd-q.onnx')
    const run = await runCli([file, '--config', WEIGHT8_CFG, '-o', out, '--report-dir', '/proc/unplugin-quantize-test/r'], { timeoutMs: 60_000 })
    expect(run.signal).toBeNull()
    expect(run.stderr).toBe("unplugin-quantize: /proc/unplugin-quantize-test/r: cannot create the report folder: its parent '/proc' exists but its file system does not allow new folders in it (ENOENT)\n")
    expect(run.code).toBe(1)
    const cfg = path.join(dir, 'debug.cfg')
    fs.writeFileSync(cfg, fs.readFileSync(WEIGHT8_CFG, 'utf8') + '\ndebug_info_save_path=/proc/unplugin-quantize-test\n')
    const debug = await runCli([file, '--config', cfg, '-o', out], { timeoutMs: 60_000 })
    expect(debug.signal).toBeNull()
    expect(debug.stderr).toMatch(/^unplugin-quantize: \/proc\/unplugin-quantize-test: cannot create the debug report folder: its parent '\/proc' exists but its file system does not allow new folders in it \(ENOENT\)\n$/)
    expect(fs.readdirSync(dir).sort()).toEqual(['debug.cfg', 'hd.onnx'])
  })
})

describe('FULL_QUANT through the CLI', () => {
  it('--json carries the FULL_QUANT report: ranges, int8 and float nodes with reasons, bias correction', async () => {
    const { dir, file } = folderWith('full-json', MODELS.cls, 'cls.onnx')
    await writeClsImages(path.join(dir, 'crops'), 4)
    const pre = Object.entries(clsImageCfg('crops', 4)).map(([k, v]) => `${k}=${v}`).join('\n')
    fs.writeFileSync(path.join(dir, 'cls.cfg'), `[common_quant_param]\nquant_type=FULL_QUANT\nbit_num=8\nskip_quant_node=p2o.Conv.5\n[data_preprocess_param]\n${pre}\n`)
    const run = await runCli([file, '--json', '-o', path.join(dir, 'q.onnx')])
    expect(run.code, run.stderr).toBe(0)
    const json = oneJson(run.stdout)
    const full = json.full as { method: string; activations: unknown[]; quantizedNodes: unknown[]; floatNodes: { name: string; why: string }[]; biasCorrection: { enabled: boolean } }
    // the model it describes runs close to fp32 (exact int8, as the report measures it)
    expect((await compareModels(MODELS.cls, path.join(dir, 'q.onnx'), await clsSamples(4, 7000))).cosine).toBeGreaterThan(0.95)
    expect(json.cosineSimilarity).toBeGreaterThan(0.95)
    expect(full.method).toBe('MAX_MIN')
    expect(full.activations.length).toBeGreaterThan(50)
    expect(full.quantizedNodes.length).toBeGreaterThan(50)
    expect(full.floatNodes).toContainEqual(expect.objectContaining({ name: 'p2o.Conv.5', why: 'skip_quant_node' }))
    expect(full.biasCorrection.enabled).toBe(true)
  })
})

describe('progress and warnings', () => {
  it('on a terminal shows each step on one rewritten line, cleared at the end; never with --json or into a pipe', async () => {
    const { dir, file } = folderWith('progress', MODELS.helloDeepa, 'hd.onnx')
    const tty = await runCliInProcess([file, '--config', WEIGHT8_CFG, '-o', path.join(dir, 'a.onnx')], { isTTY: true })
    expect(tty.code, tty.stderr).toBe(0)
    const steps = tty.stderr.split('\r\x1b[K').filter(Boolean)
    expect(steps.length).toBeGreaterThan(3)
    expect(steps[0]).toBe('reading model…')
    expect(steps).toContain('verifying in onnxruntime-node…')
    expect(tty.stderr.endsWith('\r\x1b[K')).toBe(true)
    for (const [args, isTTY] of [[['--json'], true], [[], false]] as const) {
      const quiet = await runCliInProcess([file, '--config', WEIGHT8_CFG, '-o', path.join(dir, 'b.onnx'), ...args], { isTTY })
      expect(quiet.code).toBe(0)
      expect(quiet.stderr).toBe('')
    }
  })

  it('prints the report\'s warnings on stderr, one "warning:" line each, and still exits 0', async () => {
    const { dir, file } = folderWith('warnings', MODELS.helloDeepa, 'hd.onnx')
    fs.writeFileSync(path.join(dir, 'typo.cfg'), `${cfgText(8)}min_quant_weight_chanel=16\n`)
    const run = await runCli([file, '--config', path.join(dir, 'typo.cfg'), '--json'])
    expect(run.code, run.stderr).toBe(0)
    const warnings = oneJson(run.stdout).warnings as string[]
    expect(warnings.some((w) => w.includes("did you mean 'min_quant_weight_channel'"))).toBe(true)
    expect(run.stderr).toBe(warnings.map((w) => `warning: ${w}\n`).join(''))
  })
})

describe('usage', () => {
  it('--help prints the usage on stdout and exits 0', async () => {
    for (const flag of ['--help', '-h']) {
      const run = await runCli([flag])
      expect(run.code).toBe(0)
      expect(run.stdout).toMatch(/^usage: unplugin-quantize <model\.onnx> \[--config <file\.cfg>\] \[-o, --out <file>\] \[--report-dir <dir>\] \[--json\]\n/)
      expect(run.stdout).toContain('--modelFile=, --configFile=, --outputFile=, --fmk=ONNX')
      expect(run.stderr).toBe('')
    }
  })

  it('--version prints the package version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }
    for (const flag of ['--version', '-v']) expect(await runCli([flag])).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' })
  })

  it('an unknown flag exits 2 with one line, and touches nothing', async () => {
    const { dir, file } = folderWith('unknown-flag', MODELS.helloDeepa, 'hd.onnx')
    const run = await runCli([file, '--config', WEIGHT8_CFG, '--bogus'])
    expect(run.code).toBe(2)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe("unplugin-quantize: unknown option '--bogus' (see --help)\n")
    expect(listTree(dir)).toEqual(['hd.onnx'])
  })

  it('an option without its value, with an empty one, or under two spellings: exit 2, one line, nothing written', async () => {
    const { dir, file } = folderWith('bad-options', MODELS.helloDeepa, 'hd.onnx')
    const cases: [string[], string][] = [
      [[file, '-o'], "option '-o, --out' needs a value"],
      [[file, '-o', '--json'], "option '-o' needs a value"],
      [[file, '--out='], "option '--out' needs a value"],
      [[file, '--report-dir='], "option '--report-dir' needs a value"],
      [[file, '-o', 'a.onnx', '--outputFile=b'], '-o and --outputFile both given; pass one'],
      [[file, '--config', WEIGHT8_CFG, '--configFile=other.cfg'], '--config and --configFile both given; pass one'],
      [['--modelFile=a.onnx', '--modelFile=b.onnx'], '--modelFile given twice; pass it once'],
      [[file, '-o', 'a.onnx', '-o', 'b.onnx'], '-o given twice; pass it once'],
      [[file, '--report-dir', 'a', '--report-dir=b'], '--report-dir given twice; pass it once'],
      [[file, `--outputFile=${dir}/`], `output '${dir}/' names a folder; give a file name`],
    ]
    for (const [args, message] of cases) {
      const run = await runCli(args, { cwd: dir })
      expect([run.code, run.stdout, run.stderr], args.join(' ')).toEqual([2, '', `unplugin-quantize: ${message} (see --help)\n`])
    }
    expect(listTree(dir)).toEqual(['hd.onnx'])
  })

  it('no model, or two, exits 2 with one line', async () => {
    const none = await runCli(['--json'])
    expect(none.code).toBe(2)
    expect(none.stderr).toBe('unplugin-quantize: no model given (see --help)\n')
    const two = await runCli(['a.onnx', 'b.onnx'])
    expect(two.code).toBe(2)
    expect(two.stderr).toBe("unplugin-quantize: unexpected argument 'b.onnx' (see --help)\n")
  })
})

describe('failures from the built bin', () => {
  it('a missing cfg: exit 1, one line naming the cfg, nothing written', async () => {
    const { dir, file } = folderWith('missing-cfg', MODELS.helloDeepa, 'hd.onnx')
    const cfg = path.join(dir, 'absent.cfg')
    const run = await runCli([file, '--config', cfg, '--json'])
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe(`unplugin-quantize: ${cfg}: cannot read cfg file: no such file\n`)
    expect(listTree(dir)).toEqual(['hd.onnx'])
  })

  it('a truncated model: exit 1, one line naming the model, no output file', async () => {
    const { dir } = folderWith('truncated', MODELS.helloDeepa, 'whole.onnx')
    const file = path.join(dir, 'cut.onnx')
    fs.writeFileSync(file, fs.readFileSync(path.join(dir, 'whole.onnx')).subarray(0, 5000))
    const run = await runCli([file, '--config', WEIGHT8_CFG, '--json', '--report-dir', path.join(dir, 'r')])
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr).toMatch(new RegExp(`^unplugin-quantize: ${escapeRegExp(file)}: truncated or corrupt protobuf \\(.+\\)\\n$`))
    expect(listTree(dir)).toEqual(['cut.onnx', 'whole.onnx'])
  })

  it('an output under a regular file: exit 1, one line naming the output, nothing written', async () => {
    const { dir, file } = folderWith('unwritable', MODELS.helloDeepa, 'hd.onnx')
    fs.writeFileSync(path.join(dir, 'plain'), '')
    const out = path.join(dir, 'plain', 'hd.q.onnx')
    const run = await runCli([file, '--config', WEIGHT8_CFG, '-o', out])
    expect(run.code).toBe(1)
    expect(run.stdout).toBe('')
    expect(run.stderr).toBe(`unplugin-quantize: ${out}: cannot write output: a parent of it is a file, not a folder (ENOTDIR)\n`)
    expect(listTree(dir)).toEqual(['hd.onnx', 'plain'])
  })

  it('an output that is the model or the cfg, or whose folder is missing: exit 1 before any work, inputs untouched', async () => {
    const { dir, file } = folderWith('overwrite', MODELS.helloDeepa, 'hd.onnx')
    const cfg = path.join(dir, 'hd.cfg')
    fs.writeFileSync(cfg, cfgText(8))
    const before = [fs.readFileSync(file), fs.readFileSync(cfg)]
    const cases: [string[], string][] = [
      // converter_lite's habit: --outputFile names the model without extension
      [['--modelFile=hd.onnx', '--outputFile=hd'], 'hd.onnx: the output would overwrite the input model; choose another --out'],
      [['hd.onnx', '-o', './sub/../hd.onnx'], './sub/../hd.onnx: the output would overwrite the input model; choose another --out'],
      [['hd.onnx', '-o', 'hd.cfg'], 'hd.cfg: the output would overwrite the cfg file; choose another --out'],
      [['hd.onnx', '-o', 'missing/q.onnx'], 'missing/q.onnx: cannot write output: its folder does not exist (ENOENT)'],
      [['hd.onnx', '-o', 'q.onnx', '--report-dir', 'q.onnx/reports'], 'q.onnx/reports: the report folder would be made at or under the output file; choose another --report-dir'],
    ]
    for (const [args, message] of cases) {
      const run = await runCli(args, { cwd: dir })
      expect([run.code, run.stdout, run.stderr], args.join(' ')).toEqual([1, '', `unplugin-quantize: ${message}\n`])
    }
    expect([fs.readFileSync(file), fs.readFileSync(cfg)]).toEqual(before)
    expect(listTree(dir)).toEqual(['hd.cfg', 'hd.onnx'])
  })

  it("an output whose external data file would replace the input's: refused", async () => {
    // an exporter wrote model.onnx + model.onnx.data; the model was renamed, its data was not
    const { dir } = folderWith('external-clash', MODELS.cls, 'inline.onnx')
    await saveModel(loadModel(path.join(dir, 'inline.onnx')).model, path.join(dir, 'model-fp32.onnx'), { externalData: { location: 'model.onnx.data' } })
    fs.rmSync(path.join(dir, 'inline.onnx'))
    const before = fs.readFileSync(path.join(dir, 'model.onnx.data'))
    const run = await runCli(['model-fp32.onnx', '--config', WEIGHT8_CFG, '-o', 'model.onnx'], { cwd: dir })
    expect([run.code, run.stderr]).toEqual([1, "unplugin-quantize: model.onnx.data: the output's external data file would overwrite the input model's external data; choose another --out\n"])
    expect(fs.readFileSync(path.join(dir, 'model.onnx.data')).equals(before)).toBe(true)
    expect(listTree(dir)).toEqual(['model-fp32.onnx', 'model.onnx.data'])
  })

  it('a model with external data whose quantized weights all fit inline: one output file, no empty .data', async () => {
    const dir = makeTmpDir('cli-external-inline-')
    try {
      // 32x24 float weights (3 KB) go to the data file; their int8 codes (768 bytes) stay under its 1 KB threshold
      const tiny = buildModel({
        nodes: [node('MatMul', ['x', 'w'], ['y'])],
        initializers: [randomTensor('w', [32, 24], 7)],
        inputs: [valueInfo('x', DataType.FLOAT, [1, 32])],
        outputs: [valueInfo('y', DataType.FLOAT, [1, 24])],
      })
      await saveModel(decodeModelProto(tiny), path.join(dir, 'tiny.onnx'), { externalData: { location: 'tiny.onnx.data' } })
      expect(fs.statSync(path.join(dir, 'tiny.onnx.data')).size).toBe(32 * 24 * 4)
      const run = await runCli(['tiny.onnx', '--config', WEIGHT8_CFG, '-o', 'q.onnx'], { cwd: dir })
      expect(run.code, run.stderr).toBe(0)
      expect(listTree(dir)).toEqual(['q.onnx', 'tiny.onnx', 'tiny.onnx.data'])
      const samples = [generatedFeeds(inputSpecs(decodeModelProto(tiny)), 3)]
      expect((await compareModels(tiny, fs.readFileSync(path.join(dir, 'q.onnx')), samples)).cosine).toBeGreaterThan(0.9999)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a model with external data: each output gets its own <output>.data, the same from any working directory, and both run', async () => {
    const { dir } = folderWith('external', MODELS.cls, 'cls-inline.onnx')
    await saveModel(loadModel(path.join(dir, 'cls-inline.onnx')).model, path.join(dir, 'cls.onnx'), { externalData: { location: 'weights.bin' } })
    fs.rmSync(path.join(dir, 'cls-inline.onnx'))
    fs.writeFileSync(path.join(dir, 'q4.cfg'), cfgText(4))
    fs.writeFileSync(path.join(dir, 'q8.cfg'), cfgText(8))
    const eight = await runCli([path.join(dir, 'cls.onnx'), '--config', path.join(dir, 'q8.cfg'), '-o', path.join(dir, 'a8.onnx'), '--json'])
    const here = await runCli(['cls.onnx', '--config', 'q8.cfg', '-o', 'c8.onnx'], { cwd: dir })
    const four = await runCli(['cls.onnx', '--config', 'q4.cfg', '-o', 'b4.onnx', '--json'], { cwd: dir })
    for (const run of [eight, here, four]) expect(run.code, run.stderr).toBe(0)
    expect(listTree(dir)).toEqual(['a8.onnx', 'a8.onnx.data', 'b4.onnx', 'b4.onnx.data', 'c8.onnx', 'c8.onnx.data', 'cls.onnx', 'q4.cfg', 'q8.cfg', 'weights.bin'])
    // from the repo root and from the model's folder: the same bytes (each names its own data file)
    expect(fs.readFileSync(path.join(dir, 'c8.onnx.data')).equals(fs.readFileSync(path.join(dir, 'a8.onnx.data')))).toBe(true)
    const rename = (file: string) => fs.readFileSync(file).toString('latin1').replaceAll('c8.onnx.data', 'a8.onnx.data')
    expect(rename(path.join(dir, 'c8.onnx'))).toBe(fs.readFileSync(path.join(dir, 'a8.onnx')).toString('latin1'))
    const samples = [generatedFeeds(inputSpecs(decodeModelProto(fs.readFileSync(MODELS.cls))), 3)]
    const a8 = await compareModels(MODELS.cls, path.join(dir, 'a8.onnx'), samples)
    expect(a8.cosine).toBeCloseTo(oneJson(eight.stdout).cosineSimilarity as number, 3)
    expect(a8.cosine).toBeGreaterThan(0.999)
    expect((await compareModels(MODELS.cls, path.join(dir, 'b4.onnx'), samples)).cosine).toBeGreaterThan(0.9)
  })
})

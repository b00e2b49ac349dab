// The plugins' cache holds what the engine computed from the files the key was taken over: an
// input that changes while its model is quantized (an editor save, a git checkout) must not
// leave a result of the new files under the old files' key, and calibration files reached
// through symbolic links take part in the key as the engine reads them.
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import quantize from '../plugins/esbuild.js'
import { getOrComputeStable } from '../plugins/core/quantize-asset.js'
import { calibrationFiles, prepareModel } from '../plugins/core/model-inputs.js'
import { watchList } from '../plugins/core/watch-inputs.js'
import { NoCache, ResultCache, cacheKey } from '../src/cache/index.js'
import { cfgFromObject } from '../src/cfg/index.js'
import { QuantizeError } from '../src/errors.js'
import { FLOAT, OTHER, esbuildBundle } from './helpers/bundler-build.js'
import { makeTmpDir } from './helpers/run-cli.js'
import { MODELS } from './helpers/models.js'
import { pollUntil } from './helpers/until.js'

const CLS = MODELS.cls

let tmp: string
beforeAll(() => {
  tmp = makeTmpDir('plugin-cache-consistency')
})
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true })
})

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/** A fresh folder under the test's temp folder with `input.bin` holding `content`, and a key over that file. */
function input(name: string, content: string): { dir: string; file: string; keyOf: () => Promise<string> } {
  const dir = path.join(tmp, name)
  const file = path.join(dir, 'input.bin')
  fs.mkdirSync(dir, { recursive: true })
  fs.writeFileSync(file, content)
  return { dir, file, keyOf: async () => sha(fs.readFileSync(file)) }
}

describe('a result is stored under the key of the inputs it was computed from', () => {
  it('an input edited during the computation: computed again, nothing stored under the old key', async () => {
    const { dir, file, keyOf } = input('stable', 'before')
    const cache = new ResultCache({ dir: path.join(dir, 'cache') })
    const oldKey = await keyOf()
    let runs = 0
    const { blobs, computed } = await getOrComputeStable(cache, file, keyOf, async () => {
      const read = fs.readFileSync(file)
      // the edit lands after the key was taken, while the engine works on what it read
      if (++runs === 1) fs.writeFileSync(file, 'after')
      return { 'model.onnx': new Uint8Array(read) }
    })
    expect(runs).toBe(2)
    expect(computed).toBe(true)
    expect(Buffer.from(blobs['model.onnx']!).toString()).toBe('after')
    expect(await cache.get(oldKey)).toBeNull()
    expect(Buffer.from((await cache.get(await keyOf()))!['model.onnx']!).toString()).toBe('after')
  })

  it('inputs that change during every attempt: a clear error, nothing stored', async () => {
    const { dir, file, keyOf } = input('unstable', '0')
    const cache = new ResultCache({ dir: path.join(dir, 'cache') })
    let runs = 0
    const attempt = getOrComputeStable(cache, file, keyOf, async () => {
      fs.writeFileSync(file, String(++runs))
      return { 'model.onnx': new Uint8Array(1) }
    })
    await expect(attempt).rejects.toThrow(QuantizeError)
    await expect(attempt).rejects.toThrow(`${file}: the model or its calibration files changed while it was quantized, 3 times in a row; build again once they stop changing`)
    expect(runs).toBe(3)
    const cacheDir = path.join(dir, 'cache')
    expect(fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir, { recursive: true }).filter((e) => String(e).endsWith('model.onnx')) : []).toEqual([])
  })

  it('without a cache (cache: false) nothing is re-checked: a folder written to all the time still builds', async () => {
    const { file, keyOf } = input('no-cache', '0')
    let runs = 0
    const { blobs, computed } = await getOrComputeStable(new NoCache(), file, keyOf, async () => {
      fs.writeFileSync(file, String(++runs))
      return { 'model.onnx': new Uint8Array(1) }
    })
    expect(runs).toBe(1)
    expect(computed).toBe(true)
    expect(blobs['model.onnx']).toHaveLength(1)
  })

  it('esbuild: a model swapped while it waits for its turn is not cached under its old bytes', async () => {
    const dir = path.join(tmp, 'race')
    fs.mkdirSync(dir, { recursive: true })
    fs.copyFileSync(CLS, path.join(dir, 'big.onnx'))
    fs.copyFileSync(FLOAT, path.join(dir, 'small.onnx'))
    for (const m of ['big', 'small']) fs.writeFileSync(path.join(dir, `${m}.onnx.cfg`), '[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=8\n')
    fs.writeFileSync(path.join(dir, 'main.js'), "import big from './big.onnx'\nimport small from './small.onnx'\nconsole.log(big, small)\n")
    const cacheDir = path.join(dir, '.cache')
    const bundle = async (cache: boolean, whileBigRuns?: () => void) => {
      // one at a time: small.onnx waits behind big.onnx, its key already taken
      const plugin = quantize({ cacheDir, cache, concurrency: 1, verify: true })
      const outdir = path.join(dir, 'dist')
      const done = esbuildBundle(dir, 'main.js', [plugin], outdir, { assetNames: '[name]-[hash]' })
      if (whileBigRuns) {
        // bounded, and given up when the build ends first (a failure is then the build's to report)
        let ended = false
        void done.then(() => { ended = true }, () => { ended = true })
        await pollUntil(() => plugin.api.stats().running > 0 || ended, { timeoutMs: 60_000, intervalMs: 5 })
        whileBigRuns()
      }
      const { files } = await done
      return files.get([...files.keys()].find((f) => f.startsWith('small-') && f.endsWith('.onnx'))!)!
    }
    const original = fs.readFileSync(FLOAT)
    const expected = await bundle(false)
    // the swap: another model's bytes land in small.onnx while big.onnx quantizes, whole (an
    // editor's save by rename): a copy in place could be read half-written, which is another error
    await bundle(true, () => {
      fs.copyFileSync(OTHER, path.join(dir, 'small.onnx.swap'))
      fs.renameSync(path.join(dir, 'small.onnx.swap'), path.join(dir, 'small.onnx'))
    })
    fs.writeFileSync(path.join(dir, 'small.onnx'), original)
    // the original bytes again: a cache hit must give the original's result, not the swapped model's
    expect(sha(await bundle(true))).toBe(sha(expected))
  }, 120_000)
})

describe('calibration files reached through symbolic links', () => {
  it('take part in the cache key and the watch list as the engine reads them', async () => {
    const dir = path.join(tmp, 'links')
    const data = path.join(dir, 'data')
    const calib = path.join(dir, 'calib')
    fs.mkdirSync(data, { recursive: true })
    fs.mkdirSync(calib, { recursive: true })
    for (const n of ['a', 'b']) fs.writeFileSync(path.join(data, `${n}.bin`), new Float32Array(8).fill(n === 'a' ? 1 : 2))
    fs.symlinkSync(path.join(data, 'a.bin'), path.join(calib, 'x.bin'))
    fs.symlinkSync(path.join(data, 'missing.bin'), path.join(calib, 'broken.bin'))
    const object = {
      common_quant_param: { quant_type: 'FULL_QUANT', bit_num: 8 },
      data_preprocess_param: { calibrate_path: calib, calibrate_size: 1, input_type: 'BIN' },
    }
    const cfg = cfgFromObject(object, dir, 'test')
    expect(calibrationFiles(cfg)).toEqual([path.join(calib, 'x.bin')])
    const keyOf = () => cacheKey({ model: FLOAT, cfg, calibrationFiles: calibrationFiles(cfg) })
    const before = await keyOf()
    fs.rmSync(path.join(calib, 'x.bin'))
    fs.symlinkSync(path.join(data, 'b.bin'), path.join(calib, 'x.bin'))
    expect(await keyOf()).not.toBe(before)
    const watched = watchList(await prepareModel(FLOAT, { kind: 'object', config: object, baseDir: dir }))
    expect(watched.dirFiles).toEqual([path.join(calib, 'x.bin')])
  })
})

// The plugins' cache key and watch list cover the files of a calibration folder the engine reads
// (input_type BIN: the .bin files; IMAGE: the images, and .bmp files it counts in a warning), all
// of them, past calibrate_size too (verification reads those), and nothing else: a README or a
// .DS_Store added to the folder must not quantize the model again.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import quantize from '../plugins/esbuild.js'
import { calibrationFiles, prepareModel } from '../plugins/core/model-inputs.js'
import { watchList } from '../plugins/core/watch-inputs.js'
import { cfgFromObject } from '../src/cfg/index.js'
import { esbuildBundle, helloDeepaBin, makeFixtureApp } from './helpers/bundler-build.js'


let app: ReturnType<typeof makeFixtureApp>
let calib: string
beforeAll(() => {
  app = makeFixtureApp('esbuild-app')
  calib = path.join(app.dir, 'calib')
  fs.mkdirSync(calib)
  fs.writeFileSync(path.join(calib, '0.bin'), helloDeepaBin(1))
  fs.writeFileSync(path.join(calib, '1.bin'), helloDeepaBin(2))
  fs.writeFileSync(app.cfgFile, [
    '[common_quant_param]', 'quant_type=FULL_QUANT', 'bit_num=8',
    '[data_preprocess_param]', `calibrate_path=${calib}`, 'calibrate_size=2', 'input_type=BIN', '',
  ].join('\n'))
})
afterAll(() => {
  fs.rmSync(app.dir, { recursive: true, force: true })
})

/** One esbuild build with a new plugin over the app's cache: its counters. */
async function build(): Promise<{ quantized: number; reused: number; failed: number }> {
  const plugin = quantize({ cacheDir: app.cacheDir, verify: true })
  await esbuildBundle(app.dir, 'main.js', [plugin], path.join(app.dir, 'dist'))
  const { quantized, reused, failed } = plugin.api.stats()
  return { quantized, reused, failed }
}

describe('calibration inputs of a plugin build', () => {
  it('files the engine does not read leave the cache key alone; calibration files change it', async () => {
    expect(await build()).toEqual({ quantized: 1, reused: 0, failed: 0 })
    fs.writeFileSync(path.join(calib, 'README.txt'), 'where these samples came from\n')
    fs.writeFileSync(path.join(calib, '.DS_Store'), 'finder')
    // an image beside .bin files: input_type=BIN reads none
    fs.writeFileSync(path.join(calib, 'preview.png'), 'not read')
    expect(await build(), 'after adding files the engine does not read').toEqual({ quantized: 0, reused: 1, failed: 0 })
    fs.writeFileSync(path.join(calib, 'README.txt'), 'edited\n')
    expect(await build(), 'after editing one').toEqual({ quantized: 0, reused: 1, failed: 0 })
    // past calibrate_size: verification compares the models on it
    fs.writeFileSync(path.join(calib, '2.bin'), helloDeepaBin(3))
    expect(await build(), 'after adding a calibration file').toEqual({ quantized: 1, reused: 0, failed: 0 })
    fs.writeFileSync(path.join(calib, '0.bin'), helloDeepaBin(4))
    expect(await build(), 'after editing a calibration file').toEqual({ quantized: 1, reused: 0, failed: 0 })
  }, 120_000)

  it('the key and the watch list take what the input type reads', async () => {
    const dir = path.join(app.dir, 'images')
    fs.mkdirSync(dir)
    for (const f of ['a.png', 'b.JPG', 'c.bmp', 'd.bin', 'notes.txt', '.hidden.png']) fs.writeFileSync(path.join(dir, f), f)
    const object = (inputType: string) => ({
      common_quant_param: { quant_type: 'FULL_QUANT', bit_num: 8 },
      data_preprocess_param: { calibrate_path: dir, calibrate_size: 1, input_type: inputType },
    })
    const names = (files: string[]) => files.map((f) => path.basename(f)).sort()
    // the .bmp files are counted in a warning beside images, so they change the report
    expect(names(calibrationFiles(cfgFromObject(object('IMAGE'), app.dir, 'test')))).toEqual(['a.png', 'b.JPG', 'c.bmp'])
    expect(names(calibrationFiles(cfgFromObject(object('BIN'), app.dir, 'test')))).toEqual(['d.bin'])
    const prepared = await prepareModel(app.cfgFile.replace(/\.cfg$/, ''), { kind: 'object', config: object('IMAGE'), baseDir: app.dir })
    const watched = watchList(prepared)
    expect(names(watched.dirFiles)).toEqual(['a.png', 'b.JPG', 'c.bmp'])
    expect(watched.dirs).toEqual([dir])
  })
})

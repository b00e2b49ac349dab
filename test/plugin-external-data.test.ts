// The bundler plugins refuse a model that keeps its weights in an external data file: the cache
// key and the watch list cover the model, its cfg and its calibration files, not the data file,
// so a result for it could be served after the data file changed.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { resolveOptions } from '../plugins/core/options.js'
import { ModelQuantizer, newStats } from '../plugins/core/quantize-asset.js'
import { decodeModelProto } from '../src/onnx/codec.js'
import { saveModel } from '../src/onnx/model-file.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { buildModel, node, randomTensor, valueInfo } from './helpers/build-model.js'
import { WEIGHT8_CFG, makeTmpDir } from './helpers/run-cli.js'

const dir = makeTmpDir('plugin-external-data-')
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

describe('a model with external data in the bundler plugins', () => {
  it('is refused even when its quantized weights would all fit inline, so no run is cached that the data file could make stale', async () => {
    // 32x24 float weights (3 KB) in tiny.onnx.data; their int8 codes (768 bytes) would sit inline
    const tiny = (seed: number) => decodeModelProto(buildModel({
      nodes: [node('MatMul', ['x', 'w'], ['y'])],
      initializers: [randomTensor('w', [32, 24], seed)],
      inputs: [valueInfo('x', DataType.FLOAT, [1, 32])],
      outputs: [valueInfo('y', DataType.FLOAT, [1, 24])],
    }))
    const model = path.join(dir, 'tiny.onnx')
    await saveModel(tiny(7), model, { externalData: { location: 'tiny.onnx.data' } })
    fs.copyFileSync(WEIGHT8_CFG, `${model}.cfg`)
    const stats = newStats()
    const quantizer = new ModelQuantizer(resolveOptions({ cacheDir: path.join(dir, 'cache'), verify: false }), dir, { warn: () => undefined, info: () => undefined }, stats)
    await expect(quantizer.process(await quantizer.prepare(model))).rejects.toThrow('models with external data are not supported by the bundler plugins yet')
    expect(stats).toMatchObject({ failed: 1, reused: 0 })
    // other weights, the same tiny.onnx bytes: still refused, never a hit on a stored result
    await saveModel(tiny(8), model, { externalData: { location: 'tiny.onnx.data' } })
    await expect(quantizer.process(await quantizer.prepare(model))).rejects.toThrow('external data')
    expect(stats).toMatchObject({ failed: 2, reused: 0 })
  })
})

import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import type { ReportModel } from '../plugins/core/build-report.js'
import { bundleRefs, saveWorkerModels, workerModels, type OutputBundleLike } from '../plugins/core/worker-reports.js'

// Which saved worker builds a Vite main build lists in its report (worker-reports.ts), without Vite

const model = (source: string): ReportModel => ({ source, emitted: `assets/${source}` }) as unknown as ReportModel
const workerBundle = (name: string, code = ''): OutputBundleLike => ({
  [`assets/${name}-abc.js`]: { type: 'chunk', code, isEntry: true, facadeModuleId: `/app/${name}.js` },
})
const mainBundle = (code: string): OutputBundleLike => ({ 'assets/index-123.js': { type: 'chunk', code, isEntry: true, facadeModuleId: '/app/main.js' } })

describe('worker reports', () => {
  it('with a bundleChain, lists only the workers the main output starts', () => {
    const main = {}
    saveWorkerModels(main, ['/app/w.js'], workerBundle('w'), [model('w.onnx')], bundleRefs(main, workerBundle('w'), []))
    saveWorkerModels(main, ['/app/gone.js'], workerBundle('gone'), [model('gone.onnx')], bundleRefs(main, workerBundle('gone'), []))
    const sources = workerModels(main, bundleRefs(main, mainBundle('new Worker(new URL("/assets/w-abc.js", import.meta.url))'), [])).map((m) => m.source)
    expect(sources).toEqual(['w.onnx'])
  })

  it('without a bundleChain (Vite 5.0-5.1), lists every saved worker, a rebuilt one once', () => {
    const main = {}
    saveWorkerModels(main, undefined, workerBundle('w'), [model('w-old.onnx')], bundleRefs(main, workerBundle('w'), []))
    saveWorkerModels(main, undefined, workerBundle('w'), [model('w.onnx')], bundleRefs(main, workerBundle('w'), []))
    saveWorkerModels(main, undefined, workerBundle('v'), [model('v.onnx')], bundleRefs(main, workerBundle('v'), []))
    // the main output's URLs do not name them (Vite before 5.2 adds them after this plugin's generateBundle, say)
    const sources = workerModels(main, bundleRefs(main, mainBundle('export {}'), [])).map((m) => m.source)
    expect(sources.sort()).toEqual(['v.onnx', 'w.onnx'])
  })

  it("keeps no worker bundle's code once saved (a watch session saves every rebuild's)", () => {
    v8.setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const main = {}
    saveWorkerModels(main, ['/app/parent.js', '/app/w.js'], workerBundle('w'), [model('w.onnx')], bundleRefs(main, workerBundle('w'), []))
    gc()
    const before = process.memoryUsage().heapUsed
    const save = (): void => {
      // 64 MB of code in a worker that starts w
      const code = `${Buffer.alloc(64 << 20, 0x61).toString('latin1')}new Worker(new URL("/assets/w-abc.js", import.meta.url))`
      const bundle = workerBundle('parent', code)
      saveWorkerModels(main, ['/app/parent.js'], bundle, [model('parent.onnx')], bundleRefs(main, bundle, []))
    }
    save()
    gc()
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 << 20)
    // what the code said still decides: w is started by the parent, which the main output starts
    const sources = workerModels(main, bundleRefs(main, mainBundle('new Worker(new URL("/assets/parent-abc.js", import.meta.url))'), [])).map((m) => m.source)
    expect(sources).toEqual(['parent.onnx', 'w.onnx'])
  })
})

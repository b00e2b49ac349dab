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
    saveWorkerModels(main, ['/app/w.js'], workerBundle('w'), [model('w.onnx')], bundleRefs(workerBundle('w'), []))
    saveWorkerModels(main, ['/app/gone.js'], workerBundle('gone'), [model('gone.onnx')], bundleRefs(workerBundle('gone'), []))
    const sources = workerModels(main, bundleRefs(mainBundle('new Worker(new URL("/assets/w-abc.js", import.meta.url))'), [])).map((m) => m.source)
    expect(sources).toEqual(['w.onnx'])
  })

  it('without a bundleChain (Vite 5.0-5.1), lists every saved worker, a rebuilt one once', () => {
    const main = {}
    saveWorkerModels(main, undefined, workerBundle('w'), [model('w-old.onnx')], bundleRefs(workerBundle('w'), []))
    saveWorkerModels(main, undefined, workerBundle('w'), [model('w.onnx')], bundleRefs(workerBundle('w'), []))
    saveWorkerModels(main, undefined, workerBundle('v'), [model('v.onnx')], bundleRefs(workerBundle('v'), []))
    // the main output's URLs do not name them (Vite before 5.2 adds them after this plugin's generateBundle, say)
    const sources = workerModels(main, bundleRefs(mainBundle('export {}'), [])).map((m) => m.source)
    expect(sources.sort()).toEqual(['v.onnx', 'w.onnx'])
  })
})

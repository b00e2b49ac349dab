// onnxruntime-web (its wasm build, run in Node): what the browser runs, on the same inputs as
// onnxruntime-node, one thread so results do not depend on the machine's cores.
import type ort from 'onnxruntime-node'
import type { Feeds } from '../../src/runtime/feeds.js'

type Outputs = Record<string, ort.Tensor['data']>

/** An onnxruntime-web session of `model`: run it on feeds (outputs' data by name), then release. */
export async function openWeb(model: Uint8Array): Promise<{ run(feeds: Feeds): Promise<Outputs>; release(): Promise<void> }> {
  const web = await import('onnxruntime-web')
  web.env.wasm.numThreads = 1
  const session = await web.InferenceSession.create(model)
  return {
    async run(feeds) {
      const input = Object.fromEntries(Object.entries(feeds).map(([name, t]) => [name, new web.Tensor(t.type, t.data as never, t.dims)]))
      const out = await session.run(input)
      return Object.fromEntries(Object.entries(out).map(([name, t]) => [name, t.data]))
    },
    release: () => session.release(),
  }
}

/** Run `model` once in onnxruntime-web; the outputs' float data by name. */
export async function runWeb(model: Uint8Array, feeds: Feeds): Promise<Outputs> {
  const session = await openWeb(model)
  try {
    return await session.run(feeds)
  } finally {
    await session.release()
  }
}

import fs from 'node:fs'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createServer, type ViteDevServer } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import quantize, { type QuantizePluginApi } from '../plugins/vite.js'
import { resolveOptions } from '../plugins/core/options.js'
import { ModelQuantizer, newStats } from '../plugins/core/quantize-asset.js'
import { quantizeForBundler } from '../plugins/core/shared.js'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { generatedFeeds, inputSpecs } from '../src/runtime/feeds.js'
import { helloDeepaBin } from './helpers/bundler-build.js'
import { MODELS } from './helpers/models.js'
import { pollUntil, until } from './helpers/until.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const FLOAT = MODELS.helloDeepa

let dir: string
let server: ViteDevServer
let api: QuantizePluginApi
let origin: string

// the engine also writes the debug CSVs here: outside the app's root, so Vite's watcher ignores them
const debugDir = () => `${dir}-debug`

function writeCfg(bits: number): void {
  fs.writeFileSync(path.join(dir, 'hello_deepa.onnx.cfg'), `[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=${bits}\ndebug_info_save_path=${debugDir()}\n`)
}

const get = (url: string) => fetch(new URL(url, origin))

/** Counts the full-reload messages the server sends to the page from now on. */
function spyReloads(): () => number {
  let count = 0
  const send = server.ws.send.bind(server.ws) as (...args: unknown[]) => void
  server.ws.send = ((...args: unknown[]) => {
    if ((args[0] as { type?: string } | undefined)?.type === 'full-reload') count++
    send(...args)
  }) as typeof server.ws.send
  return () => count
}

/** The model URLs the app sees: main.js imports the model's module, which exports the URL. */
async function modelUrls(): Promise<string[]> {
  const main = await (await get('/main.js')).text()
  const ids = [...main.matchAll(/import \w+ from "([^"]*unplugin-quantize[^"]*)"/g)].map((m) => m[1]!)
  expect(ids.length).toBeGreaterThan(0)
  const urls = new Set<string>()
  for (const id of ids) {
    const code = await (await get(id)).text()
    const m = /export default "([^"]+)"/.exec(code)
    expect(m, code).not.toBeNull()
    urls.add(m![1]!)
  }
  return [...urls]
}

beforeAll(async () => {
  fs.mkdirSync(path.join(here, '.tmp'), { recursive: true })
  dir = fs.mkdtempSync(path.join(here, '.tmp/vite-dev-'))
  fs.writeFileSync(path.join(dir, 'index.html'), '<!doctype html><script type="module" src="./main.js"></script>\n')
  fs.writeFileSync(path.join(dir, 'main.js'), [
    "import model from './hello_deepa.onnx'",
    "import modelUrl from './hello_deepa.onnx?url'",
    "const viaNewUrl = new URL('./hello_deepa.onnx', import.meta.url).href",
    'export default { model, modelUrl, viaNewUrl }',
    '',
  ].join('\n'))
  fs.writeFileSync(path.join(dir, 'unrelated.txt'), 'x\n')
  // a second model, first requested by the test that edits its cfg while it quantizes
  fs.writeFileSync(path.join(dir, 'late.js'), "import model from './late.onnx'\nexport default model\n")
  const late = decodeModelProto(fs.readFileSync(FLOAT))
  late.doc_string = 'another model: not in the cache'
  fs.writeFileSync(path.join(dir, 'late.onnx'), encodeModelProto(late))
  fs.writeFileSync(path.join(dir, 'late.onnx.cfg'), '[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=8\n')
  fs.copyFileSync(FLOAT, path.join(dir, 'hello_deepa.onnx'))
  writeCfg(8)
  const plugin = quantize({ cacheDir: '.cache', verify: true })
  api = plugin.api as QuantizePluginApi
  server = await createServer({
    root: dir,
    configFile: false,
    logLevel: 'silent',
    plugins: [plugin],
    server: { host: '127.0.0.1', port: 0, strictPort: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  })
  await server.listen()
  const address = server.httpServer!.address() as AddressInfo
  origin = `http://127.0.0.1:${address.port}`
})

afterAll(async () => {
  await server?.close()
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
  if (dir) fs.rmSync(debugDir(), { recursive: true, force: true })
})

describe('vite dev server', () => {
  let url: string
  let bytes: Buffer

  it('serves the quantized model through the middleware, for all three reference forms', async () => {
    const urls = await modelUrls()
    // `./m.onnx`, `./m.onnx?url` and `new URL(...)` are one module and one URL
    expect(urls).toHaveLength(1)
    url = urls[0]!
    expect(url).toMatch(/^\/__quantize\/model\/[0-9a-f]{16}\/hello_deepa\.onnx$/)
    const res = await get(url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/octet-stream')
    bytes = Buffer.from(await res.arrayBuffer())
    const float = fs.readFileSync(FLOAT)
    expect(bytes.equals(float)).toBe(false)
    expect(bytes.length).toBeLessThan(float.length / 2)
    expect(api.stats().quantized).toBe(1)
  })

  it('the served model runs in onnxruntime-node close to the float model', async () => {
    const specs = inputSpecs(decodeModelProto(fs.readFileSync(FLOAT)))
    const samples = [1, 2, 3].map((seed) => generatedFeeds(specs, seed))
    const result = await compareModels(FLOAT, new Uint8Array(bytes), samples)
    expect(result.cosine).toBeGreaterThan(0.999)
  })

  it('requests never quantize again', async () => {
    const before = api.stats()
    for (let i = 0; i < 3; i++) {
      const res = await get(url)
      expect(res.status).toBe(200)
      expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true)
    }
    expect(await modelUrls()).toEqual([url])
    expect(api.stats()).toEqual(before)
  })

  it('serves an HTML index at /__quantize/ and the .quant.json report', async () => {
    const res = await get('/__quantize/')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    const html = await res.text()
    expect(html).toContain('hello_deepa.onnx')
    expect(html).toContain('hello_deepa.onnx.cfg')
    expect(html).toContain(url)
    expect(html).not.toMatch(/<script/i)
    const reportUrl = /href="([^"]+\.quant\.json)"/.exec(html)?.[1]
    expect(reportUrl).toMatch(/^\/__quantize\/report\/[0-9a-f]{16}\/hello_deepa\.quant\.json$/)
    const report = await (await get(reportUrl!)).json() as Record<string, unknown>
    expect(report).toMatchObject({ quantType: 'WEIGHT_QUANT', bitNum: 8, input: 'hello_deepa.onnx', config: 'hello_deepa.onnx.cfg', sizeOut: bytes.length })
    expect(typeof report.cosineSimilarity).toBe('number')
  })

  it('serves the debug CSVs the cfg asked for (debug_info_save_path), linked from the index', async () => {
    const html = await (await get('/__quantize/')).text()
    const links = [...html.matchAll(/href="(\/__quantize\/debug\/[0-9a-f]{16}\/[^"]+\.csv)"/g)].map((m) => m[1]!)
    const names = links.map((l) => l.slice(l.lastIndexOf('/') + 1)).sort()
    expect(names).toEqual(['output_summary.csv', 'quant_param.csv', 'report_0.csv'])
    for (const link of links) {
      const res = await get(link)
      expect(res.status).toBe(200)
      expect(res.headers.get('content-type')).toMatch(/^text\/csv/)
      const name = link.slice(link.lastIndexOf('/') + 1)
      // the same text the engine wrote to debug_info_save_path
      expect(await res.text()).toBe(fs.readFileSync(path.join(debugDir(), name), 'utf8'))
    }
  })

  it('an unknown id is a 404 with a message', async () => {
    for (const bad of ['/__quantize/model/0000000000000000/hello_deepa.onnx', '/__quantize/report/nope/x.quant.json', '/__quantize/debug/0000000000000000/report_0.csv', '/__quantize/whatever']) {
      const res = await get(bad)
      expect(res.status).toBe(404)
      expect(await res.text()).toMatch(/^unplugin-quantize: /)
    }
    // the server is still fine
    expect((await get(url)).status).toBe(200)
  })

  it('editing the cfg re-quantizes exactly once and serves the new bytes under a new URL', async () => {
    const before = api.stats().quantized
    const reloads = spyReloads()
    writeCfg(6)
    await until('the re-quantization', () => api.stats().quantized > before)
    // the served URL switches once the new bytes are ready
    let urls: string[] = []
    await pollUntil(async () => {
      urls = await modelUrls()
      return urls[0] !== url
    })
    expect(urls).toHaveLength(1)
    expect(urls[0]).not.toBe(url)
    const res = await get(urls[0]!)
    expect(res.status).toBe(200)
    const six = Buffer.from(await res.arrayBuffer())
    expect(six.equals(bytes)).toBe(false)
    expect(six.equals(fs.readFileSync(FLOAT))).toBe(false)
    const html = await (await get('/__quantize/')).text()
    const report = await (await get(/href="([^"]+\.quant\.json)"/.exec(html)![1]!)).json() as { bitNum: number }
    expect(report.bitNum).toBe(6)
    // the old URL is gone (the page was told to reload)
    expect((await get(url)).status).toBe(404)
    // give a second (spurious) watcher event every chance to show up
    await new Promise((r) => setTimeout(r, 300))
    expect(api.stats().quantized).toBe(before + 1)
    expect(reloads()).toBe(1)
  })

  it('editing an unrelated file re-quantizes nothing', async () => {
    const before = api.stats()
    const seen = new Set<string>()
    const onChange = (file: string) => void seen.add(path.basename(file))
    server.watcher.on('change', onChange)
    fs.writeFileSync(path.join(dir, 'unrelated.txt'), 'y\n')
    fs.writeFileSync(path.join(dir, 'main.js'), `${fs.readFileSync(path.join(dir, 'main.js'), 'utf8')}// edited\n`)
    try {
      await until('the watcher events', () => seen.has('unrelated.txt') && seen.has('main.js'))
    } finally {
      server.watcher.off('change', onChange)
    }
    // past the plugin's debounce: a refresh would have started by now
    await new Promise((r) => setTimeout(r, 300))
    expect(await modelUrls()).toHaveLength(1)
    expect(api.stats().quantized).toBe(before.quantized)
  })

  it('editing a file in a calibration folder re-quantizes exactly once', async () => {
    const calib = path.join(dir, 'calib')
    fs.mkdirSync(calib)
    // hello_deepa's input is float32 [1, 25, 96]
    fs.writeFileSync(path.join(calib, '0.bin'), helloDeepaBin(1))
    fs.writeFileSync(path.join(calib, '1.bin'), helloDeepaBin(2))
    const cfgWithCalibration = (bits: number) => fs.writeFileSync(path.join(dir, 'hello_deepa.onnx.cfg'), [
      '[common_quant_param]', 'quant_type=WEIGHT_QUANT', `bit_num=${bits}`,
      '[data_preprocess_param]', `calibrate_path=${calib}`, 'calibrate_size=2', 'input_type=BIN', '',
    ].join('\n'))
    const [start] = await modelUrls()
    let before = api.stats().quantized
    cfgWithCalibration(8)
    await until('the re-quantization after the cfg edit', () => api.stats().quantized > before)
    const url = await waitForNewUrl(start!)
    expect(api.stats().quantized).toBe(before + 1)
    before = api.stats().quantized
    fs.writeFileSync(path.join(calib, '1.bin'), helloDeepaBin(3))
    await until('the re-quantization after the calibration edit', () => api.stats().quantized > before)
    const next = await waitForNewUrl(url)
    expect((await get(next)).status).toBe(200)
    await new Promise((r) => setTimeout(r, 300))
    expect(api.stats().quantized).toBe(before + 1)

    // a file there the engine never reads refreshes nothing: the next reload is the next edit's
    const reloads = spyReloads()
    const { reused } = api.stats()
    const seen = new Set<string>()
    const onAdd = (file: string) => void seen.add(path.basename(file))
    server.watcher.on('add', onAdd)
    fs.writeFileSync(path.join(calib, 'README.txt'), 'where the samples came from\n')
    try {
      await until('the watcher event', () => seen.has('README.txt'))
    } finally {
      server.watcher.off('add', onAdd)
    }
    // past the plugin's debounce: a refresh would have started by now
    await new Promise((r) => setTimeout(r, 300))
    before = api.stats().quantized
    fs.writeFileSync(path.join(calib, '1.bin'), helloDeepaBin(4))
    await until('the re-quantization after the second calibration edit', () => api.stats().quantized > before)
    await waitForNewUrl(next)
    await new Promise((r) => setTimeout(r, 300))
    expect(reloads()).toBe(1)
    expect(api.stats().reused).toBe(reused)
  })

  it('a broken cfg is reported without crashing the server; fixing it serves the cached result', async () => {
    const [start] = await modelUrls()
    const failed = api.stats().failed
    writeCfg(99)
    await until('the failed re-quantization', () => api.stats().failed > failed)
    let html = ''
    const end = Date.now() + 30_000
    while (Date.now() < end && !/hello_deepa\.onnx\.cfg.*bit_num/s.test(html)) html = await (await get('/__quantize/')).text()
    expect(html).toMatch(/class="err">[^<]*hello_deepa\.onnx\.cfg/)
    // the model's module fails (Vite shows the message); the server keeps serving
    const main = await (await get('/main.js')).text()
    const id = /import \w+ from "([^"]*unplugin-quantize[^"]*)"/.exec(main)![1]!
    const broken = await get(id)
    expect(broken.status).toBe(500)
    expect((await get('/__quantize/')).status).toBe(200)
    const quantized = api.stats().quantized
    writeCfg(8)
    // 8-bit without calibration data was quantized by the first test: the cache answers
    const fixed = await waitForNewUrl(start!)
    expect(fixed).toBe(url)
    expect(api.stats().quantized).toBe(quantized)
  })

  it('editing the model itself re-quantizes exactly once and reloads the page once', async () => {
    const [start] = await modelUrls()
    const before = api.stats().quantized
    const reloads = spyReloads()
    const file = path.join(dir, 'hello_deepa.onnx')
    const model = decodeModelProto(fs.readFileSync(file))
    model.doc_string = 'a new version of the model'
    fs.writeFileSync(file, encodeModelProto(model))
    await until('the re-quantization after the model edit', () => api.stats().quantized > before)
    const next = await waitForNewUrl(start!)
    expect((await get(next)).status).toBe(200)
    await new Promise((r) => setTimeout(r, 300))
    expect(api.stats().quantized).toBe(before + 1)
    expect(reloads()).toBe(1)
    // the cache folder sits inside the root; writing it triggered nothing
    expect(fs.existsSync(path.join(dir, '.cache'))).toBe(true)
  })
})

describe('vite dev server, a model edited during its first quantization', () => {
  it('is quantized again once that run ends, with the edit', async () => {
    const before = api.stats().quantized
    const reloads = spyReloads()
    const main = await (await get('/late.js')).text()
    const id = /import \w+ from "([^"]*unplugin-quantize[^"]*)"/.exec(main)![1]!
    // loading the model's module quantizes it; the cfg changes while that runs
    const loading = get(id).then((r) => r.text())
    await until('the first quantization of late.onnx', () => api.stats().running > 0)
    fs.writeFileSync(path.join(dir, 'late.onnx.cfg'), '[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=4\n')
    const first = /export default "([^"]+)"/.exec(await loading)![1]!
    await until('the re-quantization after the edit', () => api.stats().quantized > before + 1)
    const reportOf = async (): Promise<number | null> => {
      const html = await (await get('/__quantize/')).text()
      const href = [...html.matchAll(/href="([^"]+late\.quant\.json)"/g)].map((m) => m[1]!)[0]
      return href ? ((await (await get(href)).json()) as { bitNum: number }).bitNum : null
    }
    await pollUntil(async () => (await reportOf()) === 4)
    expect(await reportOf()).toBe(4)
    const now = /export default "([^"]+)"/.exec(await (await get(id)).text())![1]!
    expect(now).not.toBe(first)
    expect(reloads()).toBe(1)
  })
})

/** Polls the app's model URL until it differs from `old` (the refresh has been published). */
async function waitForNewUrl(old: string): Promise<string> {
  let urls: string[] = []
  const published = await pollUntil(async () => {
    // the module may still be the failed one (a refresh in progress): try again
    urls = await modelUrls().catch(() => [])
    return urls.length === 1 && urls[0] !== old && (await get(urls[0]!)).status === 200
  })
  if (published) return urls[0]!
  throw new Error(`the model URL stayed ${urls.join(', ')}`)
}

describe('model file names', () => {
  /** A quantized copy of the float model at `rel` under the root, referenced by `new URL` from `script`; its module as a browser requests it. */
  async function moduleOf(rel: string, script: string): Promise<{ status: number; text: string }> {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true })
    fs.copyFileSync(FLOAT, path.join(dir, rel))
    fs.writeFileSync(path.join(dir, `${rel}.cfg`), '[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=8\n')
    fs.writeFileSync(path.join(dir, script), `export default new URL('./${rel}', import.meta.url).href\n`)
    const code = await (await get(`/${script}`)).text()
    const id = /import \w+ from "([^"]*unplugin-quantize[^"]*)"/.exec(code)![1]!
    // the fragment, were there one, is not sent
    const res = await get(id)
    return { status: res.status, text: await res.text() }
  }

  /** The model the module's URL serves is the quantized one. */
  async function expectQuantizedAt(url: string): Promise<void> {
    const model = await get(url)
    expect(model.status).toBe(200)
    expect((await model.arrayBuffer()).byteLength).toBeLessThan(fs.statSync(FLOAT).size / 2)
  }

  it("a '#' (and spaces, non-ASCII) in the model's file name: its module and the model are served", async () => {
    // before: the module's URL `/@id/__x00__unplugin-quantize:/…/my model é#1.onnx` lost `#1.onnx`
    // to the fragment and the request answered 500 (a missing file, "with defaultConfig")
    const { status, text } = await moduleOf('sub/my model é#1.onnx', 'odd-name.js')
    expect(status, text).toBe(200)
    const url = /export default "([^"]+)"/.exec(text)![1]!
    expect(decodeURIComponent(url)).toMatch(/\/my model é#1\.onnx$/)
    await expectQuantizedAt(url)
  })

  it("a literal '%23' in a model's file name stays as it is", async () => {
    // before: the id's %23 was read back as '#', a file that does not exist
    const { status, text } = await moduleOf('sub/a%23b.onnx', 'percent-name.js')
    expect(status, text).toBe(200)
    await expectQuantizedAt(/export default "([^"]+)"/.exec(text)![1]!)
  })

  it('a model that cannot be read is reported without naming a cfg it does not have', async () => {
    const options = resolveOptions({ cacheDir: path.join(dir, '.cache'), verify: false })
    const quantizer = new ModelQuantizer(options, dir, { warn: () => undefined, info: () => undefined }, newStats())
    const gone = path.join(dir, 'sub/gone.onnx')
    const outcome = await quantizeForBundler(quantizer, await quantizer.prepare(gone), options, dir)
    expect(outcome).toMatchObject({ ok: false, message: expect.stringMatching(/^unplugin-quantize: cannot read sub\/gone\.onnx: ENOENT/) as unknown })
    expect(outcome.ok || outcome.message).not.toMatch(/defaultConfig/)
  })
})

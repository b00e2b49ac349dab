// The Vite example in a real browser: builds examples/vite (as test/example-vite.test.ts does),
// serves the built app on 127.0.0.1 with the cross-origin-isolation headers of its
// vite.config.js, opens it in headless Chromium (Debian's `chromium`, driven by playwright-core:
// test/helpers/chromium.ts) and checks what the page reports on window.__quantizeResult: it ran
// the quantized and the fp32 detector with onnxruntime-web and their probability maps agree.
// A missing /usr/bin/chromium fails the test (.ci/run installs it) unless
// UNPLUGIN_QUANTIZE_SKIP_BROWSER=1. The screenshot is left in test/.tmp/browser-example.png.
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Browser } from 'playwright-core'
import { build, createLogger, loadConfigFromFile, type Logger } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeModelProto } from '../src/onnx/codec.js'
import { DataType } from '../src/onnx/onnx-types.js'
import { exampleDir, prepareExample } from '../examples/vite/prepare.js'
import { assertChromium, launchChromium, skipBrowser } from './helpers/chromium.js'

const here = path.dirname(fileURLToPath(import.meta.url))
const outDir = path.join(here, '.tmp/browser-example-dist')
const screenshot = path.join(here, '.tmp/browser-example.png')
const configFile = path.join(exampleDir, 'vite.config.js')

interface QuantizeResult {
  cosine: number
  quantizedBytes: number
  floatBytes: number
  textPixels: number
  ms: number
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.onnx': 'application/octet-stream',
}

/** A static server for `dir` on 127.0.0.1 (a free port), sending `headers` with every response. */
async function serve(dir: string, headers: Record<string, string>): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname)
    const file = path.join(dir, pathname.endsWith('/') ? `${pathname}index.html` : pathname)
    if (!file.startsWith(dir + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404, headers).end('not found')
      return
    }
    const body = fs.readFileSync(file)
    res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': body.length })
    res.end(req.method === 'HEAD' ? undefined : body)
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}

describe.skipIf(skipBrowser)('examples/vite in headless Chromium', () => {
  let browser: Browser | undefined
  let server: Awaited<ReturnType<typeof serve>> | undefined

  beforeAll(async () => {
    assertChromium() // before the build: fail fast, saying how to install it
    await prepareExample()
    const logger: Logger = { ...createLogger('silent'), warn: () => {} }
    await build({
      root: exampleDir,
      configFile,
      logLevel: 'silent',
      customLogger: logger,
      build: { outDir, emptyOutDir: true, rolldownOptions: { checks: { bundlerTimings: false } } },
    })
    const loaded = await loadConfigFromFile({ command: 'serve', mode: 'production', isPreview: true }, configFile, exampleDir, 'silent')
    const headers = (loaded?.config.preview?.headers ?? {}) as Record<string, string>
    expect(headers).toMatchObject({ 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' })
    server = await serve(outDir, headers)
    browser = await launchChromium()
  })

  afterAll(async () => {
    await browser?.close()
    await server?.close()
  })

  it('runs the quantized and the fp32 model with onnxruntime-web, and their outputs match', async () => {
    const page = await browser!.newPage({ viewport: { width: 1400, height: 900 } })
    const problems: string[] = []
    page.on('console', (msg) => { if (msg.type() === 'error') problems.push(`console.error: ${msg.text()} (${msg.location().url})`) })
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
    page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`))
    const fetched = new Map<string, number>() // path -> status
    page.on('response', (res) => {
      fetched.set(new URL(res.url()).pathname, res.status())
      if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`)
    })

    await page.goto(server!.url)
    // the page sets data-error when it fails: stop waiting then, and show its message
    await page.waitForFunction(() => {
      const g = globalThis as unknown as { __quantizeResult?: unknown; document: { body: { dataset: { error?: string } } } }
      return g.__quantizeResult !== undefined || g.document.body.dataset.error !== undefined
    }, undefined, { timeout: 60_000 })
    fs.mkdirSync(path.dirname(screenshot), { recursive: true })
    await page.screenshot({ path: screenshot, fullPage: true })

    const error = await page.evaluate(() => (globalThis as unknown as { document: { body: { dataset: { error?: string } } } }).document.body.dataset.error)
    expect(error, 'the page reported an error').toBeUndefined()
    expect(problems).toEqual([])
    const result = await page.evaluate(() => (globalThis as unknown as { __quantizeResult: QuantizeResult }).__quantizeResult)
    const isolated = await page.evaluate(() => (globalThis as unknown as { crossOriginIsolated: boolean }).crossOriginIsolated)
    expect(isolated).toBe(true) // the headers arrived: onnxruntime-web may use threads

    // the page fetched the plugin's hashed, quantized model and the fp32 copy, both from dist/
    const models = [...fetched].filter(([p]) => p.endsWith('.onnx'))
    const quantized = models.filter(([p]) => /\/assets\/det-[\w-]{6,}\.onnx$/.test(p))
    const float = models.filter(([p]) => /\/assets\/det\.float-[\w-]{6,}\.onnx$/.test(p))
    expect(quantized, `models fetched: ${models.map(([p]) => p).join(', ')}`).toHaveLength(1)
    expect(float).toHaveLength(1)
    expect(models).toHaveLength(2)
    expect([quantized[0]![1], float[0]![1]]).toEqual([200, 200])
    expect(result.quantizedBytes).toBe(fs.statSync(path.join(outDir, quantized[0]![0])).size)
    expect(result.floatBytes).toBe(fs.statSync(path.join(outDir, float[0]![0])).size)
    expect(result.quantizedBytes).toBeLessThan(result.floatBytes / 2)
    // the accuracy target widened some weights to packed 9-12 bit codes (uint8 low-bit planes),
    // so onnxruntime-web ran their decode too
    const served = decodeModelProto(fs.readFileSync(path.join(outDir, quantized[0]![0])))
    const lowPlanes = (served.graph?.node ?? []).map((n) => n.attribute?.find((a) => a.name === 'value')?.t)
      .filter((t) => t?.data_type === DataType.UINT8 && t.name?.endsWith('_quantized_low'))
    expect(lowPlanes.length).toBeGreaterThan(0)

    expect(result.cosine).toBeGreaterThan(0.99)
    expect(result.textPixels / (640 * 640)).toBeGreaterThan(0.02) // there is text, and it is found
    expect(result.ms).toBeGreaterThan(0)
    // and the page shows it to people
    expect(await page.textContent('#cosine')).toContain(result.cosine.toFixed(6))
    expect(await page.textContent('#status')).toMatch(/^done: /)
  })
})

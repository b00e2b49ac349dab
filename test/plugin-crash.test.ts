// Crash safety and shared caches: a build killed (SIGKILL) while it quantizes leaves no cache
// entry and no output behind, and the next build succeeds; two builds that share one cache
// folder and quantize the same model at the same moment emit identical bytes. The builds run
// in child processes (test/fixtures/vite-app/build.ts) with PP-OCRv4 det, long enough to
// kill mid-way and for two builds to overlap.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import quantize, { type QuantizePluginApi } from '../plugins/vite.js'
import { KEY_PATTERN, MANIFEST } from '../src/cache/layout.js'
import { compareModels } from '../src/runtime/compare-models.js'
import { cacheBlobs, makeFixtureApp, onnxFiles, readTree, viteProductionBuild } from './helpers/bundler-build.js'
import { detSamples } from './helpers/model-inputs.js'
import { MODELS } from './helpers/models.js'

const ROOT = path.resolve(import.meta.dirname, '..')
const BUILD = path.join(ROOT, 'test/fixtures/vite-app/build.ts')
const DET = MODELS.det

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

/** The vite fixture app with the text detector as its only model. */
function detApp(): { dir: string; cacheDir: string } {
  const { dir } = makeFixtureApp('vite-app')
  dirs.push(dir)
  for (const f of ['hello_deepa.onnx', 'hello_deepa.onnx.cfg', 'other.onnx']) fs.rmSync(path.join(dir, f))
  fs.copyFileSync(DET, path.join(dir, 'det.onnx'))
  fs.writeFileSync(path.join(dir, 'det.onnx.cfg'), '[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=8\n')
  fs.writeFileSync(path.join(dir, 'main.js'), "import det from './det.onnx'\ndocument.body.dataset.model = det\n")
  return { dir, cacheDir: path.join(dir, '.cache') }
}

interface Child {
  proc: ChildProcessWithoutNullStreams
  /** Resolves when the child prints `line`. */
  printed(line: string): Promise<void>
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>
}

function startBuild(args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', BUILD, ...args], { cwd: ROOT })
  let stdout = ''
  let stderr = ''
  const waiters: { line: string; resolve: () => void }[] = []
  proc.stdout.on('data', (d: Buffer) => {
    stdout += d.toString()
    for (const w of waiters.splice(0)) (stdout.split('\n').includes(w.line) ? w.resolve() : waiters.push(w))
  })
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
  return {
    proc,
    exited,
    printed: (line) => new Promise<void>((resolve, reject) => {
      if (stdout.split('\n').includes(line)) return resolve()
      waiters.push({ line, resolve })
      void exited.then((r) => reject(new Error(`the build exited before printing ${line}: ${r.stderr}`)))
    }),
  }
}

/** Entry folders (named by a cache key) under the cache, complete or not. */
function entryDirs(cacheDir: string): string[] {
  if (!fs.existsSync(cacheDir)) return []
  return fs.readdirSync(cacheDir, { recursive: true, encoding: 'utf8' }).filter((rel) => KEY_PATTERN.test(path.basename(rel)))
}

describe('crash safety', () => {
  it('a build killed while it quantizes leaves no cache entry and no output; the next build succeeds', async () => {
    const { dir, cacheDir } = detApp()
    const outDir = path.join(dir, 'dist')
    const child = startBuild([dir, outDir, cacheDir])
    await child.printed('QUANTIZING')
    child.proc.kill('SIGKILL')
    const killed = await child.exited
    expect(killed.signal, killed.stderr).toBe('SIGKILL')
    expect(killed.stdout).not.toContain('STATS')

    // nothing that looks like a result: no entry folder (complete or partial), no model emitted
    expect(entryDirs(cacheDir)).toEqual([])
    expect(fs.existsSync(outDir) ? onnxFiles(readTree(outDir)) : []).toEqual([])

    // a fresh build over the same folders quantizes and stores a complete, verified entry
    const plugin = quantize({ cacheDir, verify: false })
    await viteProductionBuild(dir, [plugin], outDir)
    expect((plugin.api as QuantizePluginApi).stats()).toMatchObject({ quantized: 1, failed: 0 })
    const entries = entryDirs(cacheDir)
    expect(entries).toHaveLength(1)
    expect(fs.existsSync(path.join(cacheDir, entries[0]!, MANIFEST))).toBe(true)
    const files = readTree(outDir)
    const [emitted] = onnxFiles(files)
    expect(emitted).toMatch(/^assets\/det-[\w-]+\.onnx$/)
    expect(files.get(emitted!)!.equals(cacheBlobs(cacheDir, 'model.onnx')[0]!)).toBe(true)
    // and it is the real thing: close to the float detector on rendered text pages
    const result = await compareModels(DET, new Uint8Array(files.get(emitted!)!), await detSamples(2))
    expect(result.cosine).toBeGreaterThan(0.995)
  })

  it('two builds sharing one cache at the same time emit identical bytes', async () => {
    const { dir, cacheDir } = detApp()
    const [a, b] = ['dist-a', 'dist-b'].map((out) => startBuild([dir, path.join(dir, out), cacheDir, '--wait'])) as [Child, Child]
    await Promise.all([a.printed('READY'), b.printed('READY')])
    // both load the model before either has stored a result: both quantize it
    a.proc.stdin.write('go\n')
    b.proc.stdin.write('go\n')
    const [ra, rb] = await Promise.all([a.exited, b.exited])
    for (const r of [ra, rb]) expect(r.code, r.stderr).toBe(0)
    const stats = [ra, rb].map((r) => JSON.parse(/^STATS (.*)$/m.exec(r.stdout)![1]!) as { quantized: number })
    expect(stats.map((s) => s.quantized)).toEqual([1, 1])

    const ta = readTree(path.join(dir, 'dist-a'))
    const tb = readTree(path.join(dir, 'dist-b'))
    const models = onnxFiles(ta)
    expect(models).toHaveLength(1)
    expect(onnxFiles(tb)).toEqual(models)
    const report = models[0]!.replace(/\.onnx$/, '.quant.json')
    // the model and its report (timings included: the second writer emits the first one's)
    for (const f of [models[0]!, report]) expect(tb.get(f)!.equals(ta.get(f)!), f).toBe(true)
    const blobs = cacheBlobs(cacheDir, 'model.onnx')
    expect(blobs).toHaveLength(1)
    expect(blobs[0]!.equals(ta.get(models[0]!)!)).toBe(true)
  })
})

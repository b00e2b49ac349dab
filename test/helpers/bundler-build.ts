import fs from 'node:fs'
import path from 'node:path'
import { build as esbuild, type BuildOptions as EsbuildOptions, type Plugin as EsbuildPlugin } from 'esbuild'
import { build as vite, createLogger, type InlineConfig, type Logger, type PluginOption } from 'vite'
import { expect } from 'vitest'
import { decodeModelProto } from '../../src/onnx/codec.js'
import { compareModels } from '../../src/runtime/compare-models.js'
import { generatedFeeds, inputSpecs } from '../../src/runtime/feeds.js'
import type { QuantizeStats } from '../../plugins/core/quantize-asset.js'
import { MODELS } from './models.js'

// What every bundler's build test does the same way: run a build (vite, esbuild, a webpack or
// rspack compiler), read the emitted files, check the cache entry the model came from and that
// the emitted model runs close to the float one.

/** Every file under `outDir`, keyed by its '/'-separated path relative to it. */
export function readTree(outDir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>()
  for (const rel of fs.readdirSync(outDir, { recursive: true, encoding: 'utf8' })) {
    const abs = path.join(outDir, rel)
    if (fs.statSync(abs).isFile()) files.set(rel.split(path.sep).join('/'), fs.readFileSync(abs))
  }
  return files
}

/** The contents of every cache blob named `name` (e.g. model.onnx) under `cacheDir`. */
export function cacheBlobs(cacheDir: string, name: string): Buffer[] {
  return fs.readdirSync(cacheDir, { recursive: true, encoding: 'utf8' })
    .filter((rel) => path.basename(rel) === name)
    .map((rel) => fs.readFileSync(path.join(cacheDir, rel)))
}

export const onnxFiles = (files: Map<string, Buffer>): string[] => [...files.keys()].filter((f) => f.endsWith('.onnx'))
export const jsText = (files: Map<string, Buffer>): string => [...files].filter(([f]) => f.endsWith('.js')).map(([, t]) => t.toString('utf8')).join('\n')

/** The emitted model is hashed, quantized (smaller, different) and byte-identical to the cache entry. */
export function expectQuantizedAsset(files: Map<string, Buffer>, name: string, floatFile: string, cacheDir: string): void {
  expect(name).toMatch(/^assets\/hello_deepa-[\w-]{6,}\.onnx$/)
  const bytes = files.get(name)!
  const float = fs.readFileSync(floatFile)
  expect(bytes.equals(float)).toBe(false)
  expect(bytes.length).toBeLessThan(float.length / 2)
  const blobs = cacheBlobs(cacheDir, 'model.onnx')
  expect(blobs).toHaveLength(1)
  expect(bytes.equals(blobs[0]!)).toBe(true)
}

/** The emitted model runs in onnxruntime-node with output cosine > 0.999 vs the float model. */
export async function expectCloseToFloat(floatFile: string, bytes: Buffer): Promise<void> {
  const specs = inputSpecs(decodeModelProto(fs.readFileSync(floatFile)))
  const samples = [1, 2, 3].map((seed) => generatedFeeds(specs, seed))
  const result = await compareModels(floatFile, new Uint8Array(bytes), samples)
  expect(result.cosine).toBeGreaterThan(0.999)
}

const testDir = path.resolve(import.meta.dirname, '..')
/** The fixture apps' quantized model (with a cfg) and their pass-through model (without). */
export const FLOAT = MODELS.helloDeepa

/** A BIN calibration sample for hello_deepa's float32 [1, 25, 96] input, different for each seed. */
export const helloDeepaBin = (seed: number): Buffer => Buffer.from(Float32Array.from({ length: 25 * 96 }, (_, i) => Math.sin(i * 0.37 + seed)).buffer)
export const OTHER = MODELS.namasteDeepa

/** One build's output files, the plugin's counters and the bundler's warnings. */
export interface Built {
  files: Map<string, Buffer>
  stats: QuantizeStats
  warnings: string[]
}

/**
 * A temp copy of test/fixtures/<fixture> with hello_deepa.onnx (quantized by its cfg) and
 * other.onnx (no cfg) beside its code; remove `dir` when done.
 */
export function makeFixtureApp(fixture: string): { dir: string; cacheDir: string; cfgFile: string } {
  fs.mkdirSync(path.join(testDir, '.tmp'), { recursive: true })
  const dir = fs.mkdtempSync(path.join(testDir, `.tmp/${fixture.replace(/-app$/, '')}-`))
  fs.cpSync(path.join(testDir, 'fixtures', fixture), dir, { recursive: true })
  fs.copyFileSync(FLOAT, path.join(dir, 'hello_deepa.onnx'))
  fs.copyFileSync(OTHER, path.join(dir, 'other.onnx'))
  return { dir, cacheDir: path.join(dir, '.cache'), cfgFile: path.join(dir, 'hello_deepa.onnx.cfg') }
}

/** A WEIGHT_QUANT cfg with the given bit_num (anything, to make broken ones). */
export function writeWeightCfg(file: string, bits: number | string): void {
  fs.writeFileSync(file, `[common_quant_param]\nquant_type=WEIGHT_QUANT\nbit_num=${bits}\n`)
}

/**
 * A production `vite build` of the app in `root` into `outDir` (emptied first), unminified, its
 * log silenced: the written files and the warnings and info lines Vite's logger got.
 */
export async function viteProductionBuild(root: string, plugins: PluginOption[], outDir: string, build: InlineConfig['build'] = {}, resolve: InlineConfig['resolve'] = {}): Promise<{ files: Map<string, Buffer>; warnings: string[]; info: string[] }> {
  const warnings: string[] = []
  const info: string[] = []
  const customLogger: Logger = { ...createLogger('silent'), warn: (msg) => void warnings.push(msg), info: (msg) => void info.push(msg) }
  await vite({ root, configFile: false, logLevel: 'silent', customLogger, plugins, resolve, build: { outDir, emptyOutDir: true, minify: false, ...build } })
  return { files: readTree(outDir), warnings, info }
}

/**
 * One esbuild bundle (ESM, assets under assets/, silent) of `entry` in `dir` into `outDir`, which
 * is removed first (esbuild does not empty it): the written files and esbuild's warnings.
 * `options` adds to or replaces those settings.
 */
export async function esbuildBundle(dir: string, entry: string, plugins: EsbuildPlugin[], outDir: string, options: EsbuildOptions = {}): Promise<{ files: Map<string, Buffer>; warnings: string[] }> {
  fs.rmSync(outDir, { recursive: true, force: true })
  const result = await esbuild({ absWorkingDir: dir, entryPoints: [entry], bundle: true, format: 'esm', outdir: outDir, assetNames: 'assets/[name]-[hash]', logLevel: 'silent', plugins, ...options })
  return { files: readTree(outDir), warnings: result.warnings.map((w) => w.text) }
}

/** A webpack or rspack compiler: both run once and close through Node-style callbacks. */
interface Compiler<S> {
  run(callback: (err: Error | null, stats?: S) => void): void
  close(callback: (err?: Error | null) => void): void
}

/** What both bundlers' stats say about errors. */
interface CompilerStats {
  hasErrors(): boolean
  toJson(options: { all: false; errors: true }): { errors?: { message: string }[] }
}

/** Run a webpack or rspack compiler once and close it (so its file handles and workers go); its stats, errors included. */
export async function runCompiler<S>(compiler: Compiler<S>): Promise<S> {
  const stats = await new Promise<S>((resolve, reject) => compiler.run((err, s) => (err ? reject(err) : resolve(s!))))
  await new Promise<void>((resolve) => compiler.close(() => resolve()))
  return stats
}

/** runCompiler, and the build's errors thrown as one Error. */
export async function compileOrThrow<S extends CompilerStats>(compiler: Compiler<S>): Promise<S> {
  const stats = await runCompiler(compiler)
  if (stats.hasErrors()) throw new Error(stats.toJson({ all: false, errors: true }).errors!.map((e) => e.message).join('\n'))
  return stats
}

/**
 * `vite build --watch` (Rolldown's watcher) of `config`, silent, not minified, into `outDir`:
 * the count of finished builds (an error ends one too), their errors, and close().
 */
export async function viteBuildWatch(config: InlineConfig, outDir: string): Promise<{ builds: () => number; errors: string[]; close: () => Promise<void> }> {
  let builds = 0
  const errors: string[] = []
  const watcher = await vite({ configFile: false, logLevel: 'silent', ...config, build: { outDir, emptyOutDir: true, watch: {}, minify: false } }) as import('rolldown').RolldownWatcher
  watcher.on('event', (e) => {
    if (e.code === 'ERROR') errors.push(e.error.message)
    if (e.code === 'BUNDLE_END' || e.code === 'ERROR') void e.result.close()
    if (e.code === 'END' || e.code === 'ERROR') builds++
  })
  return { builds: () => builds, errors, close: () => watcher.close() }
}

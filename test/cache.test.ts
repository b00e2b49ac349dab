// The result cache (src/cache/): key stability, atomic entries verified on read, in-process and
// cross-process dedupe, a writer killed mid-write, pruning. Temp folders under test/.tmp/cache-*.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import zlib from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CacheError,
  NoCache,
  ResultCache,
  cacheKey,
  defaultCacheDir,
  engineVersion,
  normalizeCfg,
  type Blobs,
  type CacheKeyParts,
  type CacheLogger,
  digestFile,
} from '../src/cache/index.js'
import { reportOf, reportText } from '../plugins/core/quantize-asset.js'
import type { QuantizeReport } from '../src/quantize-model.js'
import { cfgFromObject, type QuantConfig } from '../src/cfg/index.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const FIXTURES = path.join(ROOT, 'test/fixtures/cache')
const MINUTE = 60_000
const HOUR = 60 * MINUTE

const tmpDirs: string[] = []
function tmpDir(): string {
  fs.mkdirSync(path.join(ROOT, 'test/.tmp'), { recursive: true })
  const dir = fs.mkdtempSync(path.join(ROOT, 'test/.tmp/cache-'))
  tmpDirs.push(dir)
  return dir
}
afterAll(() => {
  for (const dir of tmpDirs) fs.rmSync(dir, { recursive: true, force: true })
})

/** Bytes that differ at every position of a file, so a flipped byte anywhere is a real change. */
function pattern(size: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(size)
  for (let i = 0; i < size; i++) bytes[i] = ((i + seed) * 2654435761) >>> 24
  return bytes
}

function write(file: string, bytes: Uint8Array | string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, bytes)
  return file
}

function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function recordingLogger(): CacheLogger & { messages: string[] } {
  const messages: string[] = []
  return { messages, warn: (m) => messages.push(m) }
}

function entryPath(dir: string, key: string): string {
  return path.join(dir, key.slice(0, 2), key)
}

/** A valid-looking key for cache tests that do not need real inputs. */
function fakeKey(label: string): string {
  return sha(new TextEncoder().encode(label))
}

/** Set mtime (and atime) of a path and, for a folder, of everything directly in it. */
function age(target: string, ms: number): void {
  const then = new Date(Date.now() - ms)
  if (fs.statSync(target).isDirectory()) {
    for (const name of fs.readdirSync(target)) fs.utimesSync(path.join(target, name), then, then)
  }
  fs.utimesSync(target, then, then)
}

interface ChildResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

function runFixture(script: string, args: string[]): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(FIXTURES, script), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()))
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }))
  })
}

describe('cacheKey', () => {
  let dir: string
  let cfg: QuantConfig
  let base: CacheKeyParts
  let baseKey: string
  const files = {} as Record<'model' | 'data' | 'calib0' | 'calib1', string>

  beforeAll(async () => {
    dir = tmpDir()
    // larger than a read stream's 64 KiB chunk, so streaming has to get every chunk right
    files.model = write(path.join(dir, 'm/model.onnx'), pattern(300_000, 1))
    files.data = write(path.join(dir, 'm/model.onnx.data'), pattern(200_000, 2))
    files.calib0 = write(path.join(dir, 'calib/in/0.bin'), pattern(1000, 3))
    files.calib1 = write(path.join(dir, 'calib/in/1.bin'), pattern(1000, 4))
    cfg = cfgFromObject(
      {
        common_quant_param: { quant_type: 'FULL_QUANT', bit_num: 8 },
        data_preprocess_param: { calibrate_path: `in:${path.join(dir, 'calib/in')}`, calibrate_size: 2, input_type: 'BIN' },
        full_quant_param: { activation_quant_method: 'MAX_MIN' },
      },
      dir,
      path.join(dir, 'quant.cfg'),
    )
    base = {
      model: files.model,
      externalData: [{ name: 'model.onnx.data', data: files.data }],
      cfg,
      calibrationFiles: [files.calib0, files.calib1],
      options: { accuracyTarget: 0.9999 },
      engineVersion: '1.2.3',
      ortVersion: '1.30.0',
    }
    baseKey = await cacheKey(base)
  })

  /** A copy of `file` under a new folder, with the byte at `at` changed (when given). */
  function variant(file: string, sub: string, name = path.basename(file), at?: number): string {
    const bytes = new Uint8Array(fs.readFileSync(file))
    if (at !== undefined) bytes[at < 0 ? bytes.length + at : at]! ^= 0x01
    return write(path.join(dir, sub, name), bytes)
  }

  /** Rebuild every object with its keys in reverse order, at every depth. */
  function reverseKeys<T>(value: T): T {
    if (Array.isArray(value)) return value.map(reverseKeys) as T
    if (value === null || typeof value !== 'object') return value
    return Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverseKeys(v)])) as T
  }

  it('is a sha256 in hex and the same for the same inputs', async () => {
    expect(baseKey).toMatch(/^[0-9a-f]{64}$/)
    expect(await cacheKey(base)).toBe(baseKey)
    expect(await cacheKey({ ...base, cfg: structuredClone(cfg) })).toBe(baseKey)
  })

  it('depends on content, not on how or where it is given', async () => {
    expect(await cacheKey({ ...base, model: fs.readFileSync(files.model) })).toBe(baseKey)
    expect(await cacheKey({ ...base, model: variant(files.model, 'elsewhere', 'renamed.onnx') })).toBe(baseKey)
    expect(await cacheKey({ ...base, externalData: [{ name: 'model.onnx.data', data: fs.readFileSync(files.data) }] })).toBe(baseKey)
    expect(await cacheKey({ ...base, calibrationFiles: [files.calib1, files.calib0] })).toBe(baseKey)
  })

  it('ignores cfg key order, the cfg source path, cfg warnings and the lines keys are on', async () => {
    const reordered = reverseKeys(cfg)
    expect(Object.keys(reordered)[0]).not.toBe(Object.keys(cfg)[0])
    expect(await cacheKey({ ...base, cfg: reordered })).toBe(baseKey)
    const moved: QuantConfig = {
      ...cfg,
      source: '/somewhere/else.cfg',
      warnings: [{ file: '/somewhere/else.cfg', line: 3, key: 'x', message: '/somewhere/else.cfg:3: unknown key x' }],
      // an object cfg has no lines; the same keys in a file, a comment line above them
      keyLines: { quant_type: 3, bit_num: 4 },
    }
    expect(await cacheKey({ ...base, cfg: moved })).toBe(baseKey)
  })

  const changes: [string, () => CacheKeyParts][] = [
    ['a model byte (the last one)', () => ({ ...base, model: variant(files.model, 'flip-model', undefined, -1) })],
    ['an external data byte', () => ({ ...base, externalData: [{ name: 'model.onnx.data', data: variant(files.data, 'flip-data', undefined, 70_000) }] })],
    ['the external data name', () => ({ ...base, externalData: [{ name: 'weights.bin', data: files.data }] })],
    ['a cfg value', () => ({ ...base, cfg: { ...cfg, bitNum: 7 } })],
    ['a nested cfg value', () => ({ ...base, cfg: { ...cfg, fullQuant: { ...cfg.fullQuant, perChannel: !cfg.fullQuant.perChannel } } })],
    ['a resolved calibration path', () => ({ ...base, cfg: { ...cfg, dataPreprocess: { ...cfg.dataPreprocess!, calibratePath: [{ inputName: 'in', dir: '/elsewhere' }] } } })],
    // same folder layout and bytes, one file renamed: only the name differs from the base
    ['a calibration file name', () => ({ ...base, calibrationFiles: [variant(files.calib0, 'rename/in'), variant(files.calib1, 'rename/in', '2.bin')] })],
    ['a calibration file byte', () => ({ ...base, calibrationFiles: [variant(files.calib0, 'flip-calib/in'), variant(files.calib1, 'flip-calib/in', undefined, 500)] })],
    // same names and bytes, but the files now feed two different inputs
    ['which folder a calibration file is in', () => ({ ...base, calibrationFiles: [variant(files.calib0, 'split/a'), variant(files.calib1, 'split/b')] })],
    ['the number of calibration files', () => ({ ...base, calibrationFiles: [files.calib0] })],
    ['the engine version', () => ({ ...base, engineVersion: '1.2.4' })],
    ['the onnxruntime version', () => ({ ...base, ortVersion: '1.30.1' })],
    ['an option', () => ({ ...base, options: { accuracyTarget: 0.999 } })],
  ]

  it.each(changes)('changes with %s', async (_what, change) => {
    expect(await cacheKey(change())).not.toBe(baseKey)
  })

  it('gives every one of those changes its own key', async () => {
    const keys = await Promise.all(changes.map(([, change]) => cacheKey(change())))
    expect(new Set([baseKey, ...keys]).size).toBe(changes.length + 1)
  })

  it('pins the key format: known parts give this exact normalized cfg and key', async () => {
    // Every test above compares keys with keys, so a change of the framing, the field order or
    // the cfg's JSON would pass them all while every stored entry silently stops matching. If this
    // changes on purpose, update the literals (and KEY_FORMAT when a part's meaning changed).
    const here = tmpDir()
    // no paths in the cfg and none in the key, so the literal holds wherever the test runs
    const pinned = cfgFromObject({ common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 4, skip_quant_node: 'conv1' } }, here, path.join(here, 'quant.cfg'))
    expect(normalizeCfg(pinned)).toBe(
      '{"bitNum":4,"dataPreprocess":null,"debugInfoSavePath":null,' +
        '"fullQuant":{"activationQuantMethod":"MAX_MIN","biasCorrection":true,"perChannel":true,"targetDevice":"CPU"},' +
        '"minQuantWeightChannel":16,"minQuantWeightSize":0,"mixedBit":{"autoTune":false,"initScale":0.02},' +
        '"quantType":"WEIGHT_QUANT","skipQuantNode":["conv1"]}',
    )
    const key = await cacheKey({
      model: pattern(100, 5),
      externalData: [{ name: 'model.onnx.data', data: pattern(50, 6) }],
      cfg: pinned,
      calibrationFiles: [write(path.join(here, 'a/0.bin'), pattern(10, 7)), write(path.join(here, 'b/1.bin'), pattern(10, 8))],
      options: { accuracyTarget: 0.999 },
      engineVersion: '1.2.3',
      ortVersion: '1.30.0',
    })
    // also rebuilt outside the engine, field by field from cacheKey's framing, when it was pinned
    expect(key).toBe('8a20f8507901ed165a97000bd54f1cbce5c257f82cb96a7639bab3709ce995c5')
  })

  it('defaults to this package (version + a digest of the engine code) and the installed onnxruntime-node versions', async () => {
    const require = createRequire(import.meta.url)
    const version = (require('../package.json') as { version: string }).version
    const own = engineVersion()
    expect(own).toMatch(new RegExp(`^${version.replace(/\./g, '\\.')}\\+[0-9a-f]{16}$`))
    const ort = (require('onnxruntime-node/package.json') as { version: string }).version
    const { engineVersion: _e, ortVersion: _o, ...defaults } = base
    const key = await cacheKey(defaults)
    expect(key).toBe(await cacheKey({ ...base, engineVersion: own, ortVersion: ort }))
    expect(key).not.toBe(await cacheKey({ ...base, engineVersion: `${own}-other`, ortVersion: ort }))
  })

  it('names the file or value it cannot use', async () => {
    await expect(cacheKey({ ...base, calibrationFiles: ['calib/in/0.bin'] })).rejects.toThrow(/^calib\/in\/0\.bin: .*absolute/)
    const missing = path.join(dir, 'missing.onnx')
    const err = await cacheKey({ ...base, model: missing }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CacheError)
    expect((err as CacheError).path).toBe(missing)
    expect((err as Error).message).toMatch(/does not exist \(ENOENT\)/)
    await expect(cacheKey({ ...base, cfg: { ...cfg, bitNum: Number.NaN } })).rejects.toThrow(/cfg\.bitNum is NaN/)
  })
})

describe('ResultCache', () => {
  const blobs: Blobs = {
    'model.onnx': pattern(150_000, 5),
    'model.onnx.data': pattern(70_000, 6),
    'report.json': new TextEncoder().encode('{"sizeOut":1}'),
  }

  function expectBlobs(actual: Blobs | null, expected: Blobs = blobs): void {
    expect(actual).not.toBeNull()
    expect(Object.keys(actual!).sort()).toEqual(Object.keys(expected).sort())
    for (const [name, bytes] of Object.entries(expected)) expect(sha(actual![name]!), name).toBe(sha(bytes))
  }

  it('stores blobs under <dir>/<key[0..2]>/<key>/ with a manifest, and reads them back', async () => {
    const dir = tmpDir()
    const key = fakeKey('round-trip')
    const cache = new ResultCache({ dir, logger: recordingLogger() })
    expect(await cache.set(key, blobs)).toBe('written')

    const entry = entryPath(dir, key)
    expect(fs.readdirSync(path.dirname(entry))).toEqual([key])
    expect(fs.readdirSync(entry).sort()).toEqual(['manifest.json', 'model.onnx', 'model.onnx.data', 'report.json'])
    const manifest = JSON.parse(fs.readFileSync(path.join(entry, 'manifest.json'), 'utf8')) as { format: number; key: string; blobs: { name: string; size: number; crc32: number }[] }
    expect(manifest.format).toBe(2)
    expect(manifest.key).toBe(key)
    expect(manifest.blobs).toEqual(Object.entries(blobs).map(([name, bytes]) => ({ name, size: bytes.byteLength, crc32: zlib.crc32(bytes) })).sort((a, b) => a.name.localeCompare(b.name)))

    expectBlobs(await cache.get(key))
    // another cache object (another build) on the same folder reads the same entry
    expectBlobs(await new ResultCache({ dir }).get(key))
    expect(cache.stats()).toEqual({ hits: 1, misses: 0, writes: 1, corrupt: 0 })
  })

  it('misses quietly on a key it never stored, and resolves the default dir against the root', async () => {
    const root = tmpDir()
    const logger = recordingLogger()
    const cache = new ResultCache({ root, logger })
    expect(cache.dir).toBe(path.join(root, 'node_modules/.cache/unplugin-quantize'))
    expect(defaultCacheDir(root)).toBe(cache.dir)
    expect(new ResultCache({ root, dir: 'my-cache' }).dir).toBe(path.join(root, 'my-cache'))
    expect(await cache.get(fakeKey('never'))).toBeNull()
    expect(cache.stats()).toEqual({ hits: 0, misses: 1, writes: 0, corrupt: 0 })
    expect(logger.messages).toEqual([])
  })

  it('rejects keys and blob names that could escape the entry folder', async () => {
    const cache = new ResultCache({ dir: tmpDir() })
    await expect(cache.get('../../etc')).rejects.toThrow(/cache key '\.\.\/\.\.\/etc' is not a sha256/)
    for (const name of ['../evil', 'a/b', 'manifest.json', '']) {
      await expect(cache.set(fakeKey('names'), { [name]: new Uint8Array(1) })).rejects.toThrow(`cache blob name '${name}'`)
    }
  })

  const corruptions: [string, (entry: string) => void, RegExp][] = [
    ['a flipped byte in a blob', (e) => {
      const file = path.join(e, 'model.onnx')
      const bytes = fs.readFileSync(file)
      bytes[100_000]! ^= 0x40
      fs.writeFileSync(file, bytes)
    }, /model\.onnx does not match the crc32/],
    ['a truncated blob', (e) => fs.truncateSync(path.join(e, 'model.onnx.data'), 1000), /model\.onnx\.data is 1000 bytes, the manifest says 70000/],
    ['a deleted blob', (e) => fs.rmSync(path.join(e, 'report.json')), /report\.json is missing/],
    ['a deleted manifest', (e) => fs.rmSync(path.join(e, 'manifest.json')), /manifest\.json is missing/],
    ['a manifest that is not JSON', (e) => fs.writeFileSync(path.join(e, 'manifest.json'), '{"format":2,'), /manifest\.json the manifest is not JSON/],
    ['a manifest naming a file outside the entry', (e) => {
      const file = path.join(e, 'manifest.json')
      fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"report.json"', '"../../report.json"'))
    }, /names a blob '\.\.\/\.\.\/report\.json'/],
  ]

  it.each(corruptions)('treats %s as a miss: warns, removes the entry, recomputes', async (_what, corrupt, problem) => {
    const dir = tmpDir()
    const key = fakeKey('corrupt')
    const logger = recordingLogger()
    const cache = new ResultCache({ dir, logger })
    await cache.set(key, blobs)
    const entry = entryPath(dir, key)
    corrupt(entry)

    expect(await cache.get(key)).toBeNull()
    expect(logger.messages).toHaveLength(1)
    expect(logger.messages[0]).toContain(entry)
    expect(logger.messages[0]).toMatch(problem)
    expect(logger.messages[0]).toMatch(/removed the entry/)
    expect(fs.existsSync(entry)).toBe(false)
    // no trash left behind either
    expect(fs.readdirSync(path.dirname(entry))).toEqual([])
    expect(cache.stats()).toEqual({ hits: 0, misses: 1, writes: 1, corrupt: 1 })

    let runs = 0
    const result = await cache.getOrCompute(key, async () => {
      runs++
      return blobs
    })
    expect(runs).toBe(1)
    expectBlobs(result)
    expectBlobs(await new ResultCache({ dir }).get(key))
  })

  it('treats an entry of the old sha256 manifest format as a quiet miss, replaced by the next write', async () => {
    const dir = tmpDir()
    const key = fakeKey('format-1')
    const logger = recordingLogger()
    const cache = new ResultCache({ dir, logger })
    const old = { 'model.onnx': pattern(1000, 3) }
    const entry = write(path.join(entryPath(dir, key), 'model.onnx'), old['model.onnx'])
    write(path.join(path.dirname(entry), 'manifest.json'), JSON.stringify({ format: 1, key, blobs: [{ name: 'model.onnx', size: 1000, sha256: sha(old['model.onnx']) }] }))

    let runs = 0
    expectBlobs(await cache.getOrCompute(key, async () => {
      runs++
      return blobs
    }))
    expect(runs).toBe(1)
    expect(logger.messages).toEqual([])
    expect(cache.stats()).toEqual({ hits: 0, misses: 1, writes: 1, corrupt: 0 })
    expectBlobs(await new ResultCache({ dir }).get(key))
  })

  it('records a hit in the manifest mtime only when the last record is over a minute old', async () => {
    const dir = tmpDir()
    const key = fakeKey('touch')
    const cache = new ResultCache({ dir })
    await cache.set(key, blobs)
    const manifest = path.join(entryPath(dir, key), 'manifest.json')
    const recent = new Date(Date.now() - 10_000)
    fs.utimesSync(manifest, recent, recent)
    expectBlobs(await cache.get(key))
    expect(Math.abs(fs.statSync(manifest).mtimeMs - recent.getTime())).toBeLessThan(2)
    age(manifest, 2 * 3_600_000)
    const before = Date.now()
    expectBlobs(await cache.get(key))
    expect(fs.statSync(manifest).mtimeMs).toBeGreaterThanOrEqual(before - 1000)
  })

  it('checks entries over the synchronous-read limit the same way: a flipped byte is caught', async () => {
    const dir = tmpDir()
    const key = fakeKey('large')
    const logger = recordingLogger()
    const cache = new ResultCache({ dir, logger })
    const large: Blobs = { 'model.onnx': pattern(5 * 2 ** 20, 11), 'report.json': pattern(100, 12) }
    await cache.set(key, large)
    const again = await new ResultCache({ dir }).get(key)
    expect(Buffer.from(again!['model.onnx']!).equals(Buffer.from(large['model.onnx']!))).toBe(true)
    const file = path.join(entryPath(dir, key), 'model.onnx')
    const bytes = fs.readFileSync(file)
    bytes[4_000_000]! ^= 0x01
    fs.writeFileSync(file, bytes)
    expect(await cache.get(key)).toBeNull()
    expect(logger.messages[0]).toMatch(/model\.onnx does not match the crc32/)
  })

  it('runs compute once for concurrent getOrCompute calls on one key, across cache objects', async () => {
    const dir = tmpDir()
    const key = fakeKey('concurrent')
    const a = new ResultCache({ dir })
    const b = new ResultCache({ dir })
    let runs = 0
    const compute = async (): Promise<Blobs> => {
      runs++
      await new Promise((resolve) => setTimeout(resolve, 50))
      return blobs
    }
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 === 0 ? a : b).getOrCompute(key, compute)))
    expect(runs).toBe(1)
    for (const r of results) expectBlobs(r)
    expect(a.stats()).toEqual({ hits: 0, misses: 1, writes: 1, corrupt: 0 })
    expect(b.stats()).toEqual({ hits: 0, misses: 0, writes: 0, corrupt: 0 })

    // once settled, the next call is a hit: reading and hashing only
    expectBlobs(await b.getOrCompute(key, compute))
    expect(runs).toBe(1)
    expect(b.stats()).toEqual({ hits: 1, misses: 0, writes: 0, corrupt: 0 })
    // other keys are not held up by, or merged with, this one
    await a.getOrCompute(fakeKey('other'), compute)
    expect(runs).toBe(2)
  })

  it('passes a failed compute to every waiter, stores nothing, and runs it again next time', async () => {
    const dir = tmpDir()
    const key = fakeKey('failing')
    const cache = new ResultCache({ dir })
    let runs = 0
    const failing = async (): Promise<Blobs> => {
      runs++
      await new Promise((resolve) => setTimeout(resolve, 20))
      throw new Error('quantization failed')
    }
    const settled = await Promise.allSettled([cache.getOrCompute(key, failing), cache.getOrCompute(key, failing)])
    expect(runs).toBe(1)
    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected'])
    expect(fs.existsSync(entryPath(dir, key))).toBe(false)
    expectBlobs(await cache.getOrCompute(key, async () => (runs++, blobs)))
    expect(runs).toBe(2)
  })

  it('returns the computed result when it cannot be stored, with a warning naming the path', async () => {
    const parent = tmpDir()
    const notAFolder = write(path.join(parent, 'file'), 'x')
    const logger = recordingLogger()
    const cache = new ResultCache({ dir: notAFolder, logger })
    const key = fakeKey('unwritable')
    expectBlobs(await cache.getOrCompute(key, async () => blobs))
    expect(logger.messages).toHaveLength(1)
    expect(logger.messages[0]).toContain(path.join(notAFolder, key.slice(0, 2)))
    expect(logger.messages[0]).toMatch(/a parent of it is a file, not a folder \(ENOTDIR\)/)
    const err = await cache.set(key, blobs).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CacheError)
    expect((err as CacheError).path.startsWith(notAFolder)).toBe(true)
  })

  it('lets two processes race to store one key: both succeed with identical bytes, one entry', async () => {
    const dir = tmpDir()
    const barrier = path.join(tmpDir(), 'barrier')
    fs.mkdirSync(barrier)
    const key = fakeKey('race')
    const [one, two] = await Promise.all([
      runFixture('race-writer.ts', [dir, key, barrier, 'one']),
      runFixture('race-writer.ts', [dir, key, barrier, 'two']),
    ])
    for (const r of [one!, two!]) expect(r.code, r.stderr).toBe(0)
    for (const r of [one!, two!]) expect(r.stderr).not.toContain('warn:')
    const outs = [one!, two!].map((r) => JSON.parse(r.stdout) as { id: string; stats: { misses: number; writes: number }; sha: Record<string, string> })
    // both missed and computed (the barrier sees to it); exactly one rename won
    expect(outs.map((o) => o.stats.misses)).toEqual([1, 1])
    expect(outs[0]!.stats.writes + outs[1]!.stats.writes).toBe(1)
    const winner = outs.find((o) => o.stats.writes === 1)!

    const stored = await new ResultCache({ dir }).get(key)
    expect(stored).not.toBeNull()
    const storedSha = Object.fromEntries(Object.entries(stored!).map(([n, b]) => [n, sha(b)]))
    // the loser returned the winner's report, not its own, so both builds emit the same files
    expect(outs[0]!.sha).toEqual(storedSha)
    expect(outs[1]!.sha).toEqual(storedSha)
    expect(new TextDecoder().decode(stored!['report.json'])).toBe(JSON.stringify({ writer: winner.id }))
    expect(fs.readdirSync(path.join(dir, key.slice(0, 2)))).toEqual([key])
  })

  it.each([
    // killed after the first blob: no manifest yet, because the manifest is written last
    ['after-first-blob', ['model.onnx']],
    ['before-rename', ['manifest.json', 'model.onnx', 'report.json']],
  ] as const)('leaves only a temp dir when a writer is killed %s; get ignores it, prune removes it when old', async (mode, files) => {
    const dir = tmpDir()
    const key = fakeKey(`killed-${mode}`)
    const child = await runFixture('killed-writer.ts', [dir, key, mode])
    expect(child.signal, child.stdout + child.stderr).toBe('SIGKILL')

    const shard = path.join(dir, key.slice(0, 2))
    const left = fs.readdirSync(shard)
    expect(left).toHaveLength(1)
    expect(left[0]).toMatch(new RegExp(`^${key}\\.tmp-\\d+-[0-9a-f]+$`))
    const temp = path.join(shard, left[0]!)
    expect(fs.readdirSync(temp).sort()).toEqual(files)
    // it was killed after writing a blob, not during: the blob is complete in the temp dir
    expect(fs.statSync(path.join(temp, 'model.onnx')).size).toBe(1 << 20)

    const logger = recordingLogger()
    const cache = new ResultCache({ dir, logger })
    expect(await cache.get(key)).toBeNull()
    expect(logger.messages).toEqual([])
    expect(cache.stats()).toEqual({ hits: 0, misses: 1, writes: 0, corrupt: 0 })

    // a fresh temp dir may belong to a writer still at work
    expect((await cache.prune()).temps).toEqual([])
    expect(fs.existsSync(temp)).toBe(true)
    age(temp, 10 * MINUTE)
    const pruned = await cache.prune()
    expect(pruned.temps).toEqual([temp])
    expect(pruned.entries).toEqual([])
    expect(fs.existsSync(temp)).toBe(false)
  })

  describe('prune', () => {
    const small: Blobs = { 'model.onnx': pattern(1000, 7) }

    async function filled(labels: string[]): Promise<{ dir: string; cache: ResultCache; keys: string[]; size: number }> {
      const dir = tmpDir()
      const cache = new ResultCache({ dir })
      const keys = labels.map(fakeKey)
      for (const key of keys) await cache.set(key, small)
      const entry = entryPath(dir, keys[0]!)
      const size = fs.readdirSync(entry).reduce((n, f) => n + fs.statSync(path.join(entry, f)).size, 0)
      return { dir, cache, keys, size }
    }

    function lastUse(dir: string, key: string, msAgo: number): void {
      const then = new Date(Date.now() - msAgo)
      fs.utimesSync(path.join(entryPath(dir, key), 'manifest.json'), then, then)
    }

    it('removes entries unused for longer than maxAgeMs, and only what it created', async () => {
      const { dir, cache, keys, size } = await filled(['old', 'recent', 'new'])
      const [old, recent, fresh] = keys as [string, string, string]
      lastUse(dir, old, 72 * HOUR)
      lastUse(dir, recent, 2 * HOUR)
      // things that are not the cache's: kept whatever their age
      const foreign = [write(path.join(dir, 'README'), 'mine'), write(path.join(dir, old.slice(0, 2), 'notes.txt'), 'mine'), write(path.join(dir, 'zz/x'), 'mine')]
      for (const f of foreign) age(f, 72 * HOUR)
      // an entry folder without a manifest is never published by a writer: removed once old
      const invalidKey = fakeKey('invalid')
      write(path.join(entryPath(dir, invalidKey), 'model.onnx'), 'half')
      age(entryPath(dir, invalidKey), 10 * MINUTE)

      const result = await cache.prune({ maxAgeMs: 24 * HOUR })
      expect(result.entries.map((e) => [e.key, e.reason]).sort()).toEqual([[invalidKey, 'invalid'], [old, 'age']].sort())
      expect(result.entries.find((e) => e.key === old)).toMatchObject({ path: entryPath(dir, old), bytes: size })
      expect(result.bytesFreed).toBe(size + 4)
      expect(result.bytesKept).toBe(2 * size)
      expect(fs.existsSync(entryPath(dir, old))).toBe(false)
      for (const key of [recent, fresh]) expectBlobs(await cache.get(key), small)
      for (const f of foreign) expect(fs.existsSync(f), f).toBe(true)

      expect((await cache.prune({ maxAgeMs: HOUR })).entries.map((e) => e.key)).toEqual([])
    })

    it('removes least recently used entries first beyond maxTotalBytes, counting a hit as use', async () => {
      const { dir, cache, keys, size } = await filled(['a', 'b', 'c'])
      const [a, b, c] = keys as [string, string, string]
      lastUse(dir, a, 3 * HOUR)
      lastUse(dir, b, 2 * HOUR)
      lastUse(dir, c, 1 * HOUR)
      // a hit makes `a` the most recently used
      expectBlobs(await cache.get(a), small)

      const first = await cache.prune({ maxTotalBytes: 2 * size })
      expect(first.entries.map((e) => [e.key, e.reason])).toEqual([[b, 'size']])
      expect(first.bytesKept).toBe(2 * size)
      const second = await cache.prune({ maxTotalBytes: 2 * size - 1 })
      expect(second.entries.map((e) => e.key)).toEqual([c])
      expect(fs.existsSync(entryPath(dir, a))).toBe(true)
      expect((await cache.prune({ maxTotalBytes: 0 })).entries.map((e) => e.key)).toEqual([a])
      expect(await cache.prune({ maxTotalBytes: 0 })).toEqual({ entries: [], temps: [], bytesFreed: 0, bytesKept: 0 })
    })

    it('rejects a negative or non-numeric limit, and prunes a missing cache dir to nothing', async () => {
      const cache = new ResultCache({ dir: path.join(tmpDir(), 'absent') })
      await expect(cache.prune({ maxAgeMs: -1 })).rejects.toThrow(/maxAgeMs must be a number >= 0, got -1/)
      await expect(cache.prune({ maxTotalBytes: Number.NaN })).rejects.toThrow(/maxTotalBytes/)
      expect(await cache.prune({ maxAgeMs: 0 })).toEqual({ entries: [], temps: [], bytesFreed: 0, bytesKept: 0 })
    })
  })
})

describe('digestFile', () => {
  it('gives the sha256 and size of small (read at once) and large (read through a handle) files', async () => {
    const dir = tmpDir()
    for (const size of [0, 1000, 5 * 2 ** 20]) {
      const bytes = pattern(size, size)
      const file = write(path.join(dir, `f${size}`), bytes)
      expect(await digestFile(file)).toEqual({ size, sha256: sha(bytes) })
    }
    await expect(digestFile(path.join(dir, 'missing'))).rejects.toThrow(CacheError)
    await expect(digestFile(dir)).rejects.toThrow(/cannot read it to compute the cache key/)
  })
})

describe('the plugins\' stored report', () => {
  const layer = { nodes: [{ name: 'c', opType: 'Conv' }], tensor: 'w', dims: [2, 1], elements: 2, bits: 8, axis: 0, relativeError: 0.01, clip: 0 }
  const perChannel = { scale: new Float32Array([0.5, 0.25]), zeroPoint: new Float32Array(2), correctionVar: new Float32Array([1, 1]), correctionMean: new Float32Array(2) }
  const report = { input: 'm.onnx', sizeIn: 10, sizeOut: 4, layers: [{ ...layer, ...perChannel }], warnings: [] } as unknown as QuantizeReport

  it('leaves out per-channel parameters and keeps everything else', () => {
    const stored = reportOf(new TextEncoder().encode(reportText(report)), 'm.onnx')
    expect(stored).toEqual({ input: 'm.onnx', sizeIn: 10, sizeOut: 4, layers: [layer], warnings: [] })
  })

  it('rejects a blob that is not a report, naming the model', () => {
    expect(() => reportOf(new TextEncoder().encode('{"layers":'), 'm.onnx')).toThrow(/m\.onnx.*report\.json is not a quantization report/)
    expect(() => reportOf(new TextEncoder().encode('[]'), 'm.onnx')).toThrow(/not a quantization report/)
  })
})

describe('NoCache', () => {
  it('always misses, never writes, and computes on every call', async () => {
    const cache = new NoCache()
    const key = fakeKey('no-cache')
    let runs = 0
    const compute = async (): Promise<Blobs> => (runs++, { 'model.onnx': new Uint8Array([runs]) })
    expect(await cache.set(key, { 'model.onnx': new Uint8Array(1) })).toBe('disabled')
    expect(await cache.get(key)).toBeNull()
    expect((await cache.getOrCompute(key, compute))['model.onnx']).toEqual(new Uint8Array([1]))
    expect((await cache.getOrCompute(key, compute))['model.onnx']).toEqual(new Uint8Array([2]))
    expect(runs).toBe(2)
    expect(cache.dir).toBeNull()
    expect(cache.stats()).toEqual({ hits: 0, misses: 3, writes: 0, corrupt: 0 })
    expect(await cache.prune({ maxAgeMs: 0 })).toEqual({ entries: [], temps: [], bytesFreed: 0, bytesKept: 0 })
  })
})

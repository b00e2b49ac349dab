// Fuzzing the engine with mutated copies of real models: truncations, bit flips, byte runs,
// changed field numbers and changed length prefixes. Whatever the bytes, quantizeModel must
// either quantize them or throw an error that names the input and comes from a known class
// (never a TypeError out of a half-read model), and it must not hang (a watchdog thread kills the
// run, naming the case, when one does). Everything is seeded: a failure prints the model,
// mutation kind, seed and detail, which reproduce the exact bytes.
//
// onnxruntime is not run (verify: false, accuracyTarget: false): a model that decodes but is
// semantically broken can crash the native runtime and take the process with it.
import fs from 'node:fs'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { afterAll, describe, expect, it } from 'vitest'
import { parseCfg, type QuantConfig } from '../src/cfg/index.js'
import { QuantizeError } from '../src/errors.js'
import { decodeModelProto, OnnxDecodeError } from '../src/onnx/codec.js'
import { ExternalDataError } from '../src/onnx/external-data.js'
import { ModelFileError, validateModel } from '../src/onnx/model-file.js'
import { TensorDataError } from '../src/onnx/tensor-data.js'
import { quantizeModel } from '../src/quantize-model.js'
import { seededRandom } from '../src/runtime/feeds.js'
import { MODELS } from './helpers/models.js'

const CFG_FILE = 'test/fixtures/cfg-weight/weight8.cfg'
const cfg: QuantConfig = parseCfg(fs.readFileSync(CFG_FILE, 'utf8'), CFG_FILE)
/**
 * Everything but onnxruntime (no verification run, no sensitivity measurement) and without the
 * gzip/brotli size report, which is most of a successful run's time and has nothing to do with
 * malformed models.
 */
const NO_ORT = { verify: false, accuracyTarget: false, sizes: false } as const

const FUZZED = [
  { name: 'cls', file: MODELS.cls, cases: 600 },
  { name: 'hello_deepa', file: MODELS.helloDeepa, cases: 500 },
  // weights inside If branches: mutations reach subgraphs
  { name: 'silero_vad_16k_op15', file: MODELS.silero16kOp15, cases: 250 },
]
// FUZZ_SCALE=10 runs ten times the cases, FUZZ_SEED=n another stream of them (for a longer hunt).
const SCALE = Number(process.env.FUZZ_SCALE ?? 1)
const SEED_BASE = Number(process.env.FUZZ_SEED ?? 0x5eed0000)
/** No single case may take longer than this. */
const CASE_BOUND_MS = 3_000
/**
 * A case stuck this long in a synchronous loop never returns to the test to fail it, and the
 * test's timeout cannot interrupt it: a watchdog thread then names the case and kills the process.
 */
const HANG_MS = 30_000

/** [model index, case index, heartbeat, armed]: written by the test before each case, read by the watchdog. */
const beat = new Int32Array(new SharedArrayBuffer(16))
const watchdog = new Worker(`
  const { workerData } = require('node:worker_threads')
  const beat = new Int32Array(workerData.shared)
  let last = -1
  let since = Date.now()
  setInterval(() => {
    const now = Atomics.load(beat, 2)
    if (now !== last || !Atomics.load(beat, 3)) { last = now; since = Date.now(); return }
    if (Date.now() - since < workerData.hangMs) return
    const model = workerData.models[Atomics.load(beat, 0)], i = Atomics.load(beat, 1)
    // straight to fd 2: a worker's process.stderr goes through the blocked main thread
    require('node:fs').writeSync(2, 'fuzz: ' + model + ' case ' + i + ' (seed ' + (workerData.seedBase + i) + ') hung for ' + workerData.hangMs + ' ms; killing the test process\\n')
    process.kill(process.pid, 'SIGKILL')
  }, 500)
`, { eval: true, workerData: { shared: beat.buffer, hangMs: HANG_MS, seedBase: SEED_BASE, models: FUZZED.map((m) => m.name) } })
watchdog.unref()
afterAll(() => watchdog.terminate())

/** Tell the watchdog which case runs now (armed), or that none does. */
function heartbeat(model: number, i: number | null): void {
  Atomics.store(beat, 0, model)
  Atomics.store(beat, 1, i ?? 0)
  Atomics.add(beat, 2, 1)
  Atomics.store(beat, 3, i === null ? 0 : 1)
}

const ALLOWED = [ModelFileError, QuantizeError, OnnxDecodeError, TensorDataError, ExternalDataError, RangeError]
/**
 * The RangeErrors the engine throws on purpose (src/, `new RangeError`) and protobufjs's reader's
 * own. Any other (V8's "Invalid array length", "Maximum call stack size exceeded", an offset
 * outside a DataView) is a crash on bad data, not a clear error.
 */
const OWN_RANGE_ERROR = /holds a non-finite value|is not finite$|is outside 1-16$|is out of range 0\.\.|^cosine of vectors of different lengths|not positive definite|does not fit two int8 planes|^index out of range/

// ---------------------------------------------------------------------------------------------
// A protobuf walker that finds the tags and length prefixes the structural mutations aim at.

interface FieldSpot {
  tagPos: number
  tagLen: number
  field: number
  wire: number
  /** position and width of the length prefix (wire type 2), else -1 and 0 */
  lenPos: number
  lenLen: number
  valueEnd: number
}

function readVarint(buf: Uint8Array, pos: number, end: number): [value: number, next: number] | null {
  let value = 0
  for (let i = 0; i < 10; i++) {
    if (pos >= end) return null
    const b = buf[pos++]!
    if (i < 8) value += (b & 0x7f) * 2 ** (7 * i)
    if (!(b & 0x80)) return [value, pos]
  }
  return null
}

/** buf[start, end) parsed as one message, or null unless it parses exactly. */
function parseMessage(buf: Uint8Array, start: number, end: number): FieldSpot[] | null {
  const out: FieldSpot[] = []
  let pos = start
  while (pos < end) {
    const tag = readVarint(buf, pos, end)
    if (!tag) return null
    const field = Math.floor(tag[0] / 8)
    const wire = tag[0] % 8
    if (field === 0) return null
    const spot: FieldSpot = { tagPos: pos, tagLen: tag[1] - pos, field, wire, lenPos: -1, lenLen: 0, valueEnd: 0 }
    pos = tag[1]
    if (wire === 0) {
      const v = readVarint(buf, pos, end)
      if (!v) return null
      pos = v[1]
    } else if (wire === 1) {
      pos += 8
    } else if (wire === 5) {
      pos += 4
    } else if (wire === 2) {
      const len = readVarint(buf, pos, end)
      if (!len) return null
      spot.lenPos = pos
      spot.lenLen = len[1] - pos
      pos = len[1] + len[0]
    } else {
      return null
    }
    if (pos > end) return null
    spot.valueEnd = pos
    out.push(spot)
  }
  return out
}

/** Every field of the model and, recursively, of each length-delimited value that parses as a message. */
function fieldSpots(buf: Uint8Array): FieldSpot[] {
  const all: FieldSpot[] = []
  const walk = (start: number, end: number, depth: number): void => {
    const spots = parseMessage(buf, start, end)
    if (!spots) return
    for (const s of spots) {
      all.push(s)
      // strings and raw_data are walked too; the few that happen to parse add harmless noise
      if (s.wire === 2 && depth < 8) walk(s.lenPos + s.lenLen, s.valueEnd, depth + 1)
    }
  }
  walk(0, buf.length, 0)
  return all
}

/** `value` as a varint of exactly `width` bytes (non-minimal encodings pad with continuation bits). */
function writeVarintWidth(buf: Uint8Array, pos: number, value: number, width: number): void {
  for (let i = 0; i < width; i++) {
    const low = value % 128
    value = Math.floor(value / 128)
    buf[pos + i] = i < width - 1 ? low | 0x80 : low
  }
}

const KINDS = ['truncate', 'flip', 'run', 'field', 'length'] as const
type Kind = (typeof KINDS)[number]

interface Mutant {
  bytes: Uint8Array
  detail: string
}

function mutate(original: Uint8Array, spots: FieldSpot[], withLength: FieldSpot[], kind: Kind, seed: number): Mutant {
  const rnd = seededRandom(seed)
  const int = (n: number): number => Math.floor(rnd() * n)
  const spot = (): FieldSpot => spots[int(spots.length)]!
  const bytes = Uint8Array.from(original)
  switch (kind) {
    case 'truncate': {
      // half the cuts anywhere, half on or just after a tag
      const at = Math.min(rnd() < 0.5 ? int(original.length) : spot().tagPos + int(3), original.length - 1)
      return { bytes: bytes.subarray(0, at), detail: `cut at ${at} of ${original.length}` }
    }
    case 'flip': {
      // most flips hit tags and the bytes after them (structure), the rest land anywhere (mostly raw_data)
      const where: string[] = []
      for (let i = 1 + int(8); i > 0; i--) {
        const p = rnd() < 0.7 ? spot().tagPos + int(4) : int(bytes.length)
        const bit = int(8)
        if (p >= bytes.length) continue
        bytes[p]! ^= 1 << bit
        where.push(`${p}.${bit}`)
      }
      return { bytes, detail: `bits ${where.join(' ')}` }
    }
    case 'run': {
      const len = 1 + int(64)
      const at = rnd() < 0.7 ? spot().tagPos : int(bytes.length)
      const fill = rnd() < 0.3 ? [0x00, 0xff, 0x80][int(3)]! : -1
      for (let i = at; i < Math.min(at + len, bytes.length); i++) bytes[i] = fill < 0 ? int(256) : fill
      return { bytes, detail: `${len} ${fill < 0 ? 'random' : `0x${fill.toString(16)}`} bytes at ${at}` }
    }
    case 'field': {
      // a new field number in the same tag width; one time in five a new wire type as well
      const s = spot()
      const wire = rnd() < 0.8 ? s.wire : int(8)
      const field = 1 + int(s.tagLen >= 2 ? 2047 : 15)
      writeVarintWidth(bytes, s.tagPos, field * 8 + wire, s.tagLen)
      return { bytes, detail: `tag at ${s.tagPos}: field ${s.field}/wire ${s.wire} -> ${field}/${wire}` }
    }
    case 'length': {
      // a new length in the same prefix width, so the bytes after it are read differently
      const s = withLength[int(withLength.length)]!
      const old = readVarint(original, s.lenPos, s.lenPos + s.lenLen)![0]
      const max = 2 ** (7 * s.lenLen) - 1
      const choices = [0, old + 1, old - 1, old * 2, Math.floor(old / 2), int(max + 1), max]
      const value = Math.max(0, Math.min(choices[int(choices.length)]!, max))
      writeVarintWidth(bytes, s.lenPos, value, s.lenLen)
      return { bytes, detail: `length at ${s.lenPos}: ${old} -> ${value}` }
    }
  }
}

// ---------------------------------------------------------------------------------------------

function rootCause(err: unknown): unknown {
  let e = err
  while (e instanceof Error && e.cause instanceof Error) e = e.cause
  return e
}

/** Why `err` is not an acceptable failure for input labelled `label`, or null. */
function badFailure(err: unknown, label: string): string | null {
  if (!(err instanceof Error)) return `threw a non-Error: ${String(err)}`
  if (!ALLOWED.some((C) => err instanceof C)) return `${err.constructor.name}: ${err.message}\n${err.stack}`
  const cause = rootCause(err)
  if (!ALLOWED.some((C) => cause instanceof C)) return `${err.constructor.name} wrapping ${(cause as Error).constructor.name}: ${(cause as Error).message}\n${(cause as Error).stack}`
  if (cause instanceof RangeError && !OWN_RANGE_ERROR.test(cause.message)) return `a RangeError the engine does not throw on purpose: ${cause.message}\n${cause.stack}`
  if (!err.message.includes(label)) return `message does not name the input '${label}': ${err.message}\n${err.stack}`
  if (err.message.trim() === label || err.message.trim() === `${label}:`) return `message names the input but no problem: ${err.message}`
  return null
}

const TMP = path.resolve('test/.tmp', `fuzz-${process.pid}`)
afterAll(() => fs.rmSync(TMP, { recursive: true, force: true }))

describe('the walker the mutations rely on', () => {
  it('finds the nested structure of a real model', () => {
    const bytes = new Uint8Array(fs.readFileSync(FUZZED[0]!.file))
    const spots = fieldSpots(bytes)
    // ModelProto: ir_version (1), graph (7), opset_import (8) at the top; NodeProto op_type (4) deeper
    const top = parseMessage(bytes, 0, bytes.length)!
    expect(top.map((s) => s.field)).toEqual(expect.arrayContaining([1, 7, 8]))
    expect(spots.length).toBeGreaterThan(1000)
    expect(spots.filter((s) => s.lenPos >= 0).length).toBeGreaterThan(500)
  })

  it('is deterministic for a seed, and mutates', () => {
    const bytes = new Uint8Array(fs.readFileSync(FUZZED[1]!.file))
    const spots = fieldSpots(bytes)
    const withLength = spots.filter((s) => s.lenPos >= 0)
    for (const kind of KINDS) {
      const a = mutate(bytes, spots, withLength, kind, 7)
      const b = mutate(bytes, spots, withLength, kind, 7)
      expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes)), kind).toBe(true)
      expect(a.detail).toBe(b.detail)
      expect(Buffer.from(a.bytes).equals(Buffer.from(bytes)), `${kind} changed nothing: ${a.detail}`).toBe(false)
    }
  })
})

describe('fuzzing quantizeModel with mutated real models', () => {
  const totals = { cases: 0, quantized: 0, rejected: 0 }

  for (const [modelIndex, model] of FUZZED.entries()) {
    const cases = Math.round(model.cases * SCALE)
    it(`${model.name}: ${cases} mutants each quantize or fail with a clear error`, { timeout: 45_000 * SCALE }, async () => {
      const original = new Uint8Array(fs.readFileSync(model.file))
      const spots = fieldSpots(original)
      const withLength = spots.filter((s) => s.lenPos >= 0)
      const outcomes: Record<string, number> = {}
      const errorClasses: Record<string, number> = {}
      const problems: string[] = []
      let slowest = { ms: 0, what: '' }
      fs.mkdirSync(TMP, { recursive: true })

      try {
        for (let i = 0; i < cases; i++) {
          const kind = KINDS[i % KINDS.length]!
          const seed = SEED_BASE + i
          heartbeat(modelIndex, i)
          const m = mutate(original, spots, withLength, kind, seed)
          const what = `${model.name} ${kind} seed ${seed} (${m.detail})`
          const label = '<bytes>'
          const started = performance.now()

          // the decoder alone: a model or an OnnxDecodeError
          try {
            validateModel(decodeModelProto(m.bytes), label)
          } catch (err) {
            if (!(err instanceof OnnxDecodeError || err instanceof ModelFileError)) problems.push(`${what}: decode threw ${badFailure(err, label) ?? String(err)}`)
          }

          let outcome: string
          let rejection = ''
          try {
            const result = await quantizeModel(m.bytes, cfg, NO_ORT)
            // what it wrote must itself be a model
            validateModel(decodeModelProto(result.model), 'output')
            expect(result.report.cosineSimilarity).toBeNull()
            outcome = 'quantized'
          } catch (err) {
            const bad = badFailure(err, label)
            if (bad) problems.push(`${what}: ${bad}`)
            const cause = rootCause(err)
            const cls = cause instanceof Error ? cause.constructor.name : typeof cause
            errorClasses[cls] = (errorClasses[cls] ?? 0) + 1
            outcome = 'rejected'
            rejection = (err as Error).message
          }

          // every eighth mutant also goes through a file, where loadModel names the path
          if (i % 8 === 0) {
            const file = path.join(TMP, `${model.name}-${i}.onnx`)
            fs.writeFileSync(file, m.bytes)
            try {
              await quantizeModel(file, cfg, NO_ORT)
              if (outcome !== 'quantized') problems.push(`${what}: quantized from a file but not from bytes (${rejection})`)
            } catch (err) {
              const bad = badFailure(err, file)
              if (bad) problems.push(`${what} from a file: ${bad}`)
              if (outcome !== 'rejected') problems.push(`${what}: rejected from a file but not from bytes (${(err as Error).message})`)
            }
            fs.rmSync(file)
          }

          const ms = performance.now() - started
          if (ms > slowest.ms) slowest = { ms, what }
          outcomes[`${kind} ${outcome}`] = (outcomes[`${kind} ${outcome}`] ?? 0) + 1
          totals.cases++
          totals[outcome as 'quantized' | 'rejected']++
        }
      } finally {
        heartbeat(modelIndex, null)
      }

      console.log(`fuzz ${model.name}: ${JSON.stringify(outcomes)}; failures by root class ${JSON.stringify(errorClasses)}; slowest ${slowest.ms.toFixed(0)} ms (${slowest.what})`)
      expect(problems.slice(0, 10)).toEqual([])
      const quantized = Object.entries(outcomes).filter(([k]) => k.endsWith('quantized')).reduce((n, [, v]) => n + v, 0)
      expect(quantized, 'no mutant decoded and quantized').toBeGreaterThan(0)
      expect(quantized, 'no mutant was rejected').toBeLessThan(cases)
      // each kind of mutation found at least one broken model
      for (const kind of KINDS) expect(outcomes[`${kind} rejected`] ?? 0, `${kind} never broke the model`).toBeGreaterThan(0)
      expect(slowest.ms, `slowest case: ${slowest.what}`).toBeLessThan(CASE_BOUND_MS)
    })
  }

  it('ran at least 1,000 mutants in all, with both outcomes', () => {
    console.log(`fuzz total: ${JSON.stringify(totals)}`)
    expect(totals.cases).toBeGreaterThanOrEqual(1000)
    expect(totals.quantized).toBeGreaterThan(0)
    expect(totals.rejected).toBeGreaterThan(0)
  })
})

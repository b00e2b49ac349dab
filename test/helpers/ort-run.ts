// Running models in onnxruntime-node for tests: TensorProto -> ort.Tensor, one-shot sessions
// that are always released, and exact (bitwise, NaN-aware) output comparison.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { decodeModelProto, encodeModelProto } from '../../src/onnx/codec.js'
import { DataType, type Int64, type ModelProto, type TensorProto, int64ToNumber } from '../../src/onnx/onnx-types.js'
import { elementBytes } from '../../src/onnx/tensor-data.js'
import { exactInt8Options, exactInt8Twin } from '../../src/runtime/exact-int8.js'
import { openSession } from '../../src/runtime/recorded-outputs.js'

export type Feeds = Record<string, ort.Tensor>
export type Outputs = Record<string, ort.Tensor>

const VIEWS = {
  float32: Float32Array, uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array, int32: Int32Array,
  int64: BigInt64Array, bool: Uint8Array, float16: Uint16Array, float64: Float64Array, uint32: Uint32Array, uint64: BigUint64Array,
} as const

const ORT_TYPES: Partial<Record<number, keyof typeof VIEWS | 'string'>> = {
  [DataType.FLOAT]: 'float32', [DataType.UINT8]: 'uint8', [DataType.INT8]: 'int8', [DataType.UINT16]: 'uint16',
  [DataType.INT16]: 'int16', [DataType.INT32]: 'int32', [DataType.INT64]: 'int64', [DataType.STRING]: 'string',
  [DataType.BOOL]: 'bool', [DataType.FLOAT16]: 'float16', [DataType.DOUBLE]: 'float64', [DataType.UINT32]: 'uint32',
  [DataType.UINT64]: 'uint64',
}

function hasOwn(o: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key)
}

function toBigInt(v: Int64): bigint {
  return typeof v === 'number' ? BigInt(v) : BigInt(v.toString())
}

/** The tensor as an ort.Tensor, or null when onnxruntime-node has no JS type for it (bfloat16, float8, complex, int4). */
export function tensorProtoToOrt(t: TensorProto): ort.Tensor | null {
  const type = ORT_TYPES[t.data_type ?? 0]
  if (!type) return null
  const dims = (t.dims ?? []).map(int64ToNumber)
  const n = dims.reduce((a, b) => a * b, 1)
  if (type === 'string') {
    const decoder = new TextDecoder()
    return new ort.Tensor('string', (t.string_data ?? []).map((s) => decoder.decode(s)), dims)
  }
  const View = VIEWS[type]
  if (hasOwn(t, 'raw_data') && t.raw_data && (t.raw_data.byteLength > 0 || n === 0)) {
    // copy: raw_data may sit at an offset that the typed array cannot view
    const bytes = new Uint8Array(n * elementBytes(t.data_type ?? 0)!)
    bytes.set(t.raw_data.subarray(0, bytes.byteLength))
    return new ort.Tensor(type, new View(bytes.buffer, 0, n) as ort.Tensor.DataType, dims)
  }
  switch (type) {
    case 'float32': return new ort.Tensor(type, Float32Array.from(t.float_data ?? []), dims)
    case 'float64': return new ort.Tensor(type, Float64Array.from(t.double_data ?? []), dims)
    case 'int64': return new ort.Tensor(type, BigInt64Array.from(t.int64_data ?? [], toBigInt), dims)
    case 'uint64': return new ort.Tensor(type, BigUint64Array.from(t.uint64_data ?? [], toBigInt), dims)
    case 'uint32': return new ort.Tensor(type, Uint32Array.from(t.uint64_data ?? [], int64ToNumber), dims)
    default: {
      // the narrow types (and float16 bit patterns) are stored widened in int32_data
      const data = new View(n) as Exclude<ort.Tensor.DataType, string[] | BigInt64Array | BigUint64Array>
      ;(t.int32_data ?? []).forEach((v, i) => { data[i] = v })
      return new ort.Tensor(type, data, dims)
    }
  }
}


/** Create a session (from a path, so external data resolves, or from bytes), run once, release. */
export async function runOnce(model: string | Uint8Array, feeds: Feeds | ort.Tensor[], int8: 'kernels' | 'exact' = 'kernels'): Promise<Outputs> {
  const plain: ort.InferenceSession.SessionOptions = { logSeverityLevel: 4, intraOpNumThreads: 1, interOpNumThreads: 1 }
  // 'exact': int8 compute as its ops define it, the same on every CPU (src/runtime/exact-int8.ts)
  const options = int8 === 'exact' ? exactInt8Options(plain) : plain
  const source = int8 === 'exact' && typeof model !== 'string' ? exactInt8Twin(model) : model
  const session = await openSession(source, options)
  try {
    const named: Feeds = Array.isArray(feeds) ? Object.fromEntries(feeds.map((t, i) => [session.inputNames[i] ?? `#${i}`, t])) : feeds
    return await session.run(named)
  } finally {
    await session.release()
  }
}

function floatKind(type: ort.Tensor.Type): boolean {
  return type === 'float32' || type === 'float64' || type === 'float16'
}

function isNaNAt(t: ort.Tensor, i: number): boolean {
  if (t.type === 'float16') {
    const h = (t.data as Uint16Array)[i]!
    return (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0
  }
  return Number.isNaN((t.data as Float32Array | Float64Array)[i])
}

/** Null when the two tensors are identical (same type, dims and bits; any NaN equals any NaN), else what differs. */
export function tensorDifference(a: ort.Tensor, b: ort.Tensor): string | null {
  if (a.type !== b.type) return `type ${a.type} vs ${b.type}`
  if (a.dims.join(',') !== b.dims.join(',')) return `dims [${a.dims.join(',')}] vs [${b.dims.join(',')}]`
  if (a.type === 'string') {
    const x = a.data as string[]
    const y = b.data as string[]
    const i = x.findIndex((s, k) => s !== y[k])
    return i < 0 ? null : `string ${i}: '${x[i]}' vs '${y[i]}'`
  }
  const x = a.data as Exclude<ort.Tensor.DataType, string[]>
  const y = b.data as Exclude<ort.Tensor.DataType, string[]>
  const xb = new Uint8Array(x.buffer, x.byteOffset, x.byteLength)
  const yb = new Uint8Array(y.buffer, y.byteOffset, y.byteLength)
  if (xb.byteLength !== yb.byteLength) return `${xb.byteLength} vs ${yb.byteLength} bytes`
  if (Buffer.compare(xb, yb) === 0) return null
  const width = x.BYTES_PER_ELEMENT
  for (let i = 0; i < x.length; i++) {
    if (Buffer.compare(xb.subarray(i * width, (i + 1) * width), yb.subarray(i * width, (i + 1) * width)) === 0) continue
    if (floatKind(a.type) && isNaNAt(a, i) && isNaNAt(b, i)) continue
    return `element ${i}: ${String(x[i])} vs ${String(y[i])}`
  }
  return null
}

/** Null when both runs gave the same output names and identical tensors, else the first difference. */
export function outputsDifference(a: Outputs, b: Outputs): string | null {
  const names = Object.keys(a).sort()
  if (names.join('\0') !== Object.keys(b).sort().join('\0')) return `outputs [${names}] vs [${Object.keys(b).sort()}]`
  for (const name of names) {
    const d = tensorDifference(a[name]!, b[name]!)
    if (d) return `output '${name}': ${d}`
  }
  return null
}

/** Whether `actual` matches a reference within onnx's backend-test tolerance (rtol 1e-3, atol 1e-7). */
export function closeToReference(actual: ort.Tensor, expected: ort.Tensor): boolean {
  if (actual.type !== expected.type || actual.dims.join(',') !== expected.dims.join(',')) return false
  if (!floatKind(actual.type) || actual.type === 'float16') return tensorDifference(actual, expected) === null || (actual.type === 'float16' && closeHalf(actual, expected))
  const x = actual.data as Float32Array | Float64Array
  const y = expected.data as Float32Array | Float64Array
  for (let i = 0; i < x.length; i++) {
    const p = x[i]!
    const q = y[i]!
    if (Number.isNaN(p) && Number.isNaN(q)) continue
    if (p === q) continue
    if (!(Math.abs(p - q) <= 1e-7 + 1e-3 * Math.abs(q))) return false
  }
  return true
}

function closeHalf(actual: ort.Tensor, expected: ort.Tensor): boolean {
  const x = actual.data as Uint16Array
  const y = expected.data as Uint16Array
  // float16 has 11 bits of precision: allow one unit in the last place
  for (let i = 0; i < x.length; i++) if (Math.abs(x[i]! - y[i]!) > 1 && !(isNaNAt(actual, i) && isNaNAt(expected, i))) return false
  return true
}

/** Per sample, the named intermediate tensors of `model`, exposed as extra outputs of a copy of it. */
export async function exposedActivations(model: Uint8Array, names: string[], samples: Feeds[]): Promise<ort.Tensor[][]> {
  const probe = decodeModelProto(model)
  for (const n of names) probe.graph!.output!.push({ name: n })
  const session = await ort.InferenceSession.create(encodeModelProto(probe), { logSeverityLevel: 4 })
  try {
    const out: ort.Tensor[][] = []
    for (const feeds of samples) {
      const r = await session.run(feeds, names)
      out.push(names.map((n) => r[n]!))
    }
    return out
  } finally {
    await session.release()
  }
}

/** The graph onnxruntime-node runs after its optimizations (fusions, load-time constant folding), from the dump it writes. */
export async function optimizedModel(model: string | Uint8Array): Promise<ModelProto> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uq-optimized-'))
  try {
    const file = path.join(dir, 'optimized.onnx')
    const options = { optimizedModelFilePath: file, logSeverityLevel: 3 as const }
    const session = await openSession(model, options)
    await session.release()
    return decodeModelProto(fs.readFileSync(file))
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

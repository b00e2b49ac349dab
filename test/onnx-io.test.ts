// Reading and writing .onnx files: byte-identical round trips of real third-party models, fields
// the schema does not know, external data (checked by running both layouts in onnxruntime), and
// the errors for files that are not models.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import ort from 'onnxruntime-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decodeModelProto, encodeModelProto } from '../src/onnx/codec.js'
import {
  ExternalDataError,
  FileExternalData,
  encodeWithExternalData,
  resolveLocation,
} from '../src/onnx/external-data.js'
import { ModelFileError, loadModel, saveModel } from '../src/onnx/model-file.js'
import {
  AttributeType,
  DataType,
  type GraphProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../src/onnx/onnx-types.js'
import { isExternal, makeTensor, rawBytes, tensorToFloat32 } from '../src/onnx/tensor-data.js'
import { forEachTensor } from '../src/onnx/tensors.js'
import { quantizeModel } from '../src/quantize-model.js'
import { type Feeds, outputsDifference, runOnce } from './helpers/ort-run.js'
import { MODEL_DIRS, MODELS } from './helpers/models.js'

// third-party models installed as devDependencies
const { ocr: OCR, vadWeb: VAD_WEB, sileroVad: SILERO, openWakeWord: OWW } = MODEL_DIRS

const REAL_MODELS = [
  ...['ch_PP-OCRv4_det_infer', 'ch_PP-OCRv4_rec_infer', 'ch_ppocr_mobile_v2.0_cls_infer'].map((n) => `${OCR}/${n}.onnx`),
  ...['legacy', 'v5', 'v6'].map((v) => `${VAD_WEB}/silero_vad_${v}.onnx`),
  ...['silero_vad', 'silero_vad_16k_op15', 'silero_vad_half', 'silero_vad_op18_ifless'].map((n) => `${SILERO}/${n}.onnx`),
  ...['hello_deepa', 'hello_deepa_old', 'namaste_deepa'].map((n) => `${OWW}/${n}.onnx`),
]

let tmpRoot: string
beforeAll(() => {
  tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-io-'))
})
afterAll(() => {
  fs.rmSync(tmpRoot, { recursive: true, force: true })
})
let dirCount = 0
function freshDir(): string {
  const dir = path.join(tmpRoot, String(dirCount++))
  fs.mkdirSync(dir)
  return dir
}

// ---------------------------------------------------------------------------------------------
// inputs

function seeded(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = Math.imul(s ^ (s >>> 15), s | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function f32(dims: number[], seed: number): ort.Tensor {
  const rand = seeded(seed)
  return new ort.Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rand() * 2 - 1), dims)
}

const sr16k = (): ort.Tensor => new ort.Tensor('int64', BigInt64Array.from([16000n]), [])

/** Real models with inputs to run them on: Constant-node weights (OCR), weights inside If branches (silero), plain initializers. */
const RUNNABLE: Array<{ file: string; feeds: () => Feeds }> = [
  { file: MODELS.cls, feeds: () => ({ x: f32([1, 3, 48, 192], 1) }) },
  { file: MODELS.det, feeds: () => ({ x: f32([1, 3, 64, 64], 2) }) },
  {
    file: MODELS.sileroLegacy,
    feeds: () => ({ input: f32([1, 512], 3), sr: sr16k(), h: f32([2, 1, 64], 4), c: f32([2, 1, 64], 5) }),
  },
  { file: MODELS.sileroV5, feeds: () => ({ input: f32([1, 512], 6), sr: sr16k(), state: f32([2, 1, 128], 7) }) },
  { file: MODELS.sileroOp18, feeds: () => ({ input: f32([1, 512], 8), sr: sr16k(), state: f32([2, 1, 128], 9) }) },
  { file: MODELS.helloDeepa, feeds: () => ({ 'onnx::Flatten_0': f32([1, 25, 96], 10) }) },
]

// ---------------------------------------------------------------------------------------------
// hand-built protobuf bytes, independent of the codec under test

function varint(n: number): number[] {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80)
    n = Math.floor(n / 0x80)
  }
  out.push(n)
  return out
}

function field(num: number, wire: 0 | 1 | 2 | 5, payload: number | Uint8Array): Uint8Array {
  const tag = varint(num * 8 + wire)
  if (wire === 0) return Uint8Array.from([...tag, ...varint(payload as number)])
  const body = payload as Uint8Array
  return Uint8Array.from([...tag, ...(wire === 2 ? varint(body.length) : []), ...body])
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts))
}

interface RawField { num: number; wire: number; start: number; bodyStart: number; end: number }

function readVarint(buf: Uint8Array, pos: number): [number, number] {
  let value = 0
  let mul = 1
  for (;;) {
    const b = buf[pos++]!
    value += (b & 0x7f) * mul
    mul *= 128
    if (!(b & 0x80)) return [value, pos]
  }
}

function rawFields(buf: Uint8Array): RawField[] {
  const out: RawField[] = []
  let pos = 0
  while (pos < buf.length) {
    const start = pos
    const [tag, p] = readVarint(buf, pos)
    const wire = tag % 8
    let bodyStart = p
    let end: number
    if (wire === 0) end = readVarint(buf, p)[1]
    else if (wire === 1) end = p + 8
    else if (wire === 5) end = p + 4
    else if (wire === 2) {
      const [len, q] = readVarint(buf, p)
      bodyStart = q
      end = q + len
    } else throw new Error(`wire type ${wire}`)
    out.push({ num: Math.floor(tag / 8), wire, start, bodyStart, end })
    pos = end
  }
  return out
}

/** TensorProtos in a serialized ModelProto, counted on the wire (a second opinion on forEachTensor). */
function rawTensorCount(model: Uint8Array): number {
  const sub = (buf: Uint8Array, f: RawField): Uint8Array => buf.subarray(f.bodyStart, f.end)
  const sparse = (buf: Uint8Array): number => rawFields(buf).filter((f) => f.num === 1 || f.num === 2).length
  const attribute = (buf: Uint8Array): number => rawFields(buf).reduce((n, f) => {
    if (f.num === 5 || f.num === 10) return n + 1 // t, tensors
    if (f.num === 22 || f.num === 23) return n + sparse(sub(buf, f)) // sparse_tensor(s)
    if (f.num === 6 || f.num === 11) return n + graph(sub(buf, f)) // g, graphs
    return n
  }, 0)
  const nodes = (buf: Uint8Array, nodeField: number): number =>
    rawFields(buf).filter((f) => f.num === nodeField).reduce((n, f) => {
      const node = sub(buf, f)
      return n + rawFields(node).filter((a) => a.num === 5).reduce((m, a) => m + attribute(sub(node, a)), 0)
    }, 0)
  function graph(buf: Uint8Array): number {
    return rawFields(buf).reduce((n, f) => n + (f.num === 5 ? 1 : f.num === 15 ? sparse(sub(buf, f)) : 0), 0) + nodes(buf, 1)
  }
  return rawFields(model).reduce((n, f) => n + (f.num === 7 ? graph(sub(model, f)) : f.num === 25 ? nodes(sub(model, f), 7) : 0), 0)
}

/**
 * Append `extra` to the end of a nested message, rewriting the lengths of every enclosing message.
 * `at` is a path of [field number, occurrence index] pairs from the top-level message down.
 */
function appendInto(msg: Uint8Array, at: Array<[number, number]>, extra: Uint8Array): Uint8Array {
  if (at.length === 0) return concat(msg, extra)
  const [[num, index], ...rest] = at as [[number, number], ...Array<[number, number]>]
  const target = rawFields(msg).filter((f) => f.num === num)[index]
  if (!target || target.wire !== 2) throw new Error(`no length-delimited field ${num}[${index}]`)
  const body = appendInto(msg.subarray(target.bodyStart, target.end), rest, extra)
  return concat(msg.subarray(0, target.start), field(num, 2, body), msg.subarray(target.end))
}

// ---------------------------------------------------------------------------------------------
// building models

function valueInfo(name: string, dims: number[], docString?: string): ValueInfoProto {
  return {
    name,
    type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dim_value: d })) } } },
    ...(docString ? { doc_string: docString } : {}),
  }
}

function floatTensor(name: string, dims: number[], seed: number): TensorProto {
  const rand = seeded(seed)
  return makeTensor(name, DataType.FLOAT, dims, Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rand() * 2 - 1))
}

const ROWS = 16
const COLS = 32

/**
 * A model using what most exporters never write: a model-local function, a sparse initializer,
 * value_info, doc strings at every level and metadata_props. y = (x + W) * W + S.
 */
function featureModel(): ModelProto {
  const sparseIndices = BigInt64Array.from([1n, 17n, 100n, 511n])
  return {
    ir_version: 10,
    producer_name: 'onnx-io.test',
    producer_version: '1',
    doc_string: 'model doc',
    model_version: 3,
    opset_import: [{ domain: '', version: 18 }, { domain: 'local', version: 1 }],
    metadata_props: [{ key: 'author', value: 'tests' }, { key: 'license', value: 'MIT' }],
    functions: [{
      name: 'AddMul',
      domain: 'local',
      doc_string: 'function doc',
      input: ['a', 'b'],
      output: ['y'],
      node: [
        { op_type: 'Add', input: ['a', 'b'], output: ['s'], doc_string: 'function node doc' },
        { op_type: 'Mul', input: ['s', 'b'], output: ['y'] },
      ],
      opset_import: [{ domain: '', version: 18 }],
    }],
    graph: {
      name: 'main',
      doc_string: 'graph doc',
      input: [valueInfo('x', [ROWS, COLS], 'input doc')],
      output: [valueInfo('y', [ROWS, COLS], 'output doc')],
      value_info: [valueInfo('d', [ROWS, COLS], 'value_info doc')],
      initializer: [floatTensor('W', [ROWS, COLS], 11)],
      sparse_initializer: [{
        values: makeTensor('S', DataType.FLOAT, [4], Float32Array.from([0.5, -1.25, 2, 8])),
        indices: makeTensor('S_indices', DataType.INT64, [4], sparseIndices),
        dims: [ROWS, COLS],
      }],
      metadata_props: [{ key: 'graph-key', value: 'graph-value' }],
      node: [
        { name: 'call', op_type: 'AddMul', domain: 'local', input: ['x', 'W'], output: ['d'], doc_string: 'node doc' },
        { name: 'plus_sparse', op_type: 'Add', input: ['d', 'S'], output: ['y'] },
      ],
    },
  }
}

function featureExpected(x: Float32Array, model: ModelProto): Float32Array {
  const w = tensorToFloat32(model.graph!.initializer![0]!)
  const sparse = new Float32Array(ROWS * COLS)
  ;[1, 17, 100, 511].forEach((i, k) => { sparse[i] = [0.5, -1.25, 2, 8][k]! })
  return x.map((v, i) => Math.fround(Math.fround(Math.fround(v + w[i]!) * w[i]!) + sparse[i]!))
}

function writeModel(model: ModelProto, file: string): string {
  fs.writeFileSync(file, encodeModelProto(model))
  return file
}

function listDir(dir: string): string[] {
  return fs.readdirSync(dir).sort()
}

// =============================================================================================

describe('round trip of real models', () => {
  it.each(REAL_MODELS.map((f) => [path.basename(f), f]))('%s decodes and re-encodes byte-identically', (_, file) => {
    const bytes = fs.readFileSync(file)
    expect(Buffer.compare(encodeModelProto(decodeModelProto(bytes)), bytes)).toBe(0)
    // and through the file API
    const loaded = loadModel(file)
    expect(loaded.external).toBeNull()
    expect(Buffer.compare(encodeModelProto(loaded.model), bytes)).toBe(0)
  })
})

describe('fields the schema does not know', () => {
  const file = MODELS.sileroLegacy
  const original = fs.readFileSync(file)
  const model = decodeModelProto(original)
  const graph = model.graph!
  const ifIndex = graph.node!.findIndex((n) => n.op_type === 'If')
  const ifNode = graph.node![ifIndex]!
  const branchIndex = ifNode.attribute!.findIndex((a) => a.g && (a.g.node?.length ?? 0) > 0 && (a.g.initializer?.length ?? 0) > 0)
  const branch = ifNode.attribute![branchIndex]!.g!
  const bigInit = graph.initializer!.findIndex((t) => (t.raw_data?.byteLength ?? 0) >= 1024)

  // new field numbers of each wire type, as a newer ONNX or a vendor would add them
  const modelExtra = concat(field(99, 2, Buffer.from('vendor note')), field(100, 1, new Uint8Array(8).fill(7)))
  const nodeExtra = concat(field(42, 0, 123456789), field(43, 5, Uint8Array.from([1, 2, 3, 4])))
  const tensorExtra = field(77, 2, Uint8Array.from([0xde, 0xad, 0xbe, 0xef]))
  const subTensorExtra = field(78, 0, 5)

  const toGraph: Array<[number, number]> = [[7, 0]]
  const toBranch: Array<[number, number]> = [...toGraph, [1, ifIndex], [5, branchIndex], [6, 0]]
  let spliced = appendInto(original, [], modelExtra)
  spliced = appendInto(spliced, [...toBranch, [1, 0]], nodeExtra)
  spliced = appendInto(spliced, [...toGraph, [5, bigInit]], tensorExtra)
  spliced = appendInto(spliced, [...toBranch, [5, 0]], subTensorExtra)

  it('hand-built bytes are a valid model that onnxruntime still loads', async () => {
    const outputs = await runOnce(spliced, RUNNABLE[2]!.feeds())
    expect(Object.keys(outputs).sort()).toEqual(['cn', 'hn', 'output'])
  })

  it('are kept per message (ModelProto, NodeProto in an If branch, TensorProtos) and re-emitted', () => {
    const m = decodeModelProto(spliced)
    const g = m.graph!
    const b = g.node![ifIndex]!.attribute![branchIndex]!.g!
    expect(m.$unknown?.map((u) => Buffer.from(u).toString('hex'))).toEqual([
      Buffer.from(field(99, 2, Buffer.from('vendor note'))).toString('hex'),
      Buffer.from(field(100, 1, new Uint8Array(8).fill(7))).toString('hex'),
    ])
    expect(Buffer.concat(b.node![0]!.$unknown ?? [])).toEqual(Buffer.from(nodeExtra))
    expect(Buffer.concat(g.initializer![bigInit]!.$unknown ?? [])).toEqual(Buffer.from(tensorExtra))
    expect(Buffer.concat(b.initializer![0]!.$unknown ?? [])).toEqual(Buffer.from(subTensorExtra))
    // nothing else picked up unknown fields
    expect(b.node![1]?.$unknown).toBeUndefined()
    expect(g.node![0]!.$unknown).toBeUndefined()
    expect(Buffer.compare(encodeModelProto(m), spliced)).toBe(0)
    // the untouched model has none
    expect(model.$unknown).toBeUndefined()
    expect(branch.node![0]!.$unknown).toBeUndefined()
  })

  it('survive moving their tensor to external data and back', async () => {
    const dir = freshDir()
    fs.writeFileSync(path.join(dir, 'in.onnx'), spliced)
    const loaded = loadModel(path.join(dir, 'in.onnx'))
    await saveModel(loaded.model, path.join(dir, 'ext.onnx'), { externalData: { location: 'ext.bin' } })
    const ext = loadModel(path.join(dir, 'ext.onnx'))
    const t = ext.model.graph!.initializer![bigInit]!
    expect(isExternal(t)).toBe(true)
    expect(Buffer.concat(t.$unknown ?? [])).toEqual(Buffer.from(tensorExtra))
    await saveModel(ext.model, path.join(dir, 'back.onnx'), { externalData: 'inline', ext: ext.external! })
    ext.external!.close()
    expect(Buffer.compare(fs.readFileSync(path.join(dir, 'back.onnx')), spliced)).toBe(0)
  })
})

describe('fields most exporters never write', () => {
  const model = featureModel()
  const bytes = encodeModelProto(model)

  it('survive a round trip: metadata_props, functions, sparse initializers, value_info, doc strings', () => {
    const back = decodeModelProto(bytes)
    expect(Buffer.compare(encodeModelProto(back), bytes)).toBe(0)
    expect(back.doc_string).toBe('model doc')
    expect(back.metadata_props?.map((p) => [p.key, p.value])).toEqual([['author', 'tests'], ['license', 'MIT']])
    const fn = back.functions![0]!
    expect([fn.domain, fn.name, fn.doc_string, fn.input, fn.output]).toEqual(['local', 'AddMul', 'function doc', ['a', 'b'], ['y']])
    expect(fn.node!.map((n) => n.op_type)).toEqual(['Add', 'Mul'])
    expect(fn.node![0]!.doc_string).toBe('function node doc')
    const g = back.graph!
    expect([g.doc_string, g.input![0]!.doc_string, g.output![0]!.doc_string]).toEqual(['graph doc', 'input doc', 'output doc'])
    expect(g.value_info!.map((v) => [v.name, v.doc_string])).toEqual([['d', 'value_info doc']])
    expect(g.metadata_props?.map((p) => [p.key, p.value])).toEqual([['graph-key', 'graph-value']])
    expect(g.node![0]!.doc_string).toBe('node doc')
    const sparse = g.sparse_initializer![0]!
    expect(Array.from(tensorToFloat32(sparse.values!))).toEqual([0.5, -1.25, 2, 8])
    expect(Array.from(new BigInt64Array(Uint8Array.from(rawBytes(sparse.indices!)!).buffer))).toEqual([1n, 17n, 100n, 511n])
  })

  it('the model runs in onnxruntime and computes (x + W) * W + S', async () => {
    const x = f32([ROWS, COLS], 12)
    const out = await runOnce(bytes, { x })
    const got = out.y!.data as Float32Array
    const want = featureExpected(x.data as Float32Array, model)
    for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 5)
  })

  it('runs identically with its initializer and sparse tensors in external data', async () => {
    const dir = freshDir()
    const src = writeModel(model, path.join(dir, 'feature.onnx'))
    // threshold 16 bytes moves W and both parts of the sparse initializer out
    await saveModel(model, path.join(dir, 'feature.ext.onnx'), { externalData: { location: 'feature.bin', sizeThreshold: 16 } })
    const loaded = loadModel(path.join(dir, 'feature.ext.onnx'))
    const g = loaded.model.graph!
    expect([isExternal(g.initializer![0]!), isExternal(g.sparse_initializer![0]!.values!), isExternal(g.sparse_initializer![0]!.indices!)]).toEqual([true, true, true])
    loaded.external!.close()
    const x = f32([ROWS, COLS], 13)
    expect(outputsDifference(await runOnce(src, { x }), await runOnce(path.join(dir, 'feature.ext.onnx'), { x }))).toBeNull()
  })
})

describe('forEachTensor', () => {
  it('visits initializers, sparse parts, attribute tensors, subgraphs, functions and training graphs', () => {
    const t = (name: string): TensorProto => makeTensor(name, DataType.FLOAT, [1], Float32Array.of(1))
    const constant = (name: string): NodeProto => ({ op_type: 'Constant', output: [name], attribute: [{ name: 'value', type: AttributeType.TENSOR, t: t(name) }] })
    const inner: GraphProto = { name: 'inner', initializer: [t('inner_init')], node: [constant('inner_const')] }
    const branch: GraphProto = {
      name: 'branch',
      sparse_initializer: [{ values: t('branch_sparse_values'), indices: t('branch_sparse_indices'), dims: [4] }],
      node: [{ op_type: 'Loop', attribute: [{ name: 'body', type: AttributeType.GRAPH, g: inner }] }],
    }
    const model: ModelProto = {
      ir_version: 10,
      opset_import: [{ domain: '', version: 18 }],
      graph: {
        name: 'main',
        initializer: [t('init')],
        sparse_initializer: [{ values: t('sparse_values'), indices: t('sparse_indices'), dims: [4] }],
        node: [
          constant('const'),
          { op_type: 'Constant', output: ['sparse_const'], attribute: [{ name: 'sparse_value', type: AttributeType.SPARSE_TENSOR, sparse_tensor: { values: t('attr_sparse_values'), indices: t('attr_sparse_indices') } }] },
          { op_type: 'Custom', domain: 'x', attribute: [
            { name: 'ts', type: AttributeType.TENSORS, tensors: [t('attr_tensors_0'), t('attr_tensors_1')] },
            { name: 'sts', type: AttributeType.SPARSE_TENSORS, sparse_tensors: [{ values: t('attr_sts_values') }] },
            { name: 'gs', type: AttributeType.GRAPHS, graphs: [branch] },
          ] },
        ],
      },
      functions: [{
        name: 'F', domain: 'local', node: [constant('function_const')],
        attribute_proto: [{ name: 'default', type: AttributeType.TENSOR, t: t('function_default') }],
      }],
      training_info: [{ initialization: { name: 'init_graph', initializer: [t('training_init')] }, algorithm: { name: 'algo', node: [constant('training_const')] } }],
    }
    const seen: string[] = []
    const where: string[] = []
    forEachTensor(model, (tensor, w) => {
      seen.push(tensor.name!)
      where.push(w)
    })
    expect(seen.sort()).toEqual([
      'attr_sparse_indices', 'attr_sparse_values', 'attr_sts_values', 'attr_tensors_0', 'attr_tensors_1', 'branch_sparse_indices',
      'branch_sparse_values', 'const', 'function_const', 'function_default', 'init', 'inner_const', 'inner_init', 'sparse_indices',
      'sparse_values', 'training_const', 'training_init',
    ])
    expect(where.find((w) => w.includes("'inner_init'"))).toMatch(/graph 'main' > node .*attribute 'gs'\[0\] > graph 'branch' > node .*attribute 'body' > graph 'inner' initializer 'inner_init'/)
  })

  it('finds every tensor of the real models (weights in Constant nodes and If branches)', () => {
    for (const file of REAL_MODELS) {
      const bytes = fs.readFileSync(file)
      let n = 0
      forEachTensor(decodeModelProto(bytes), () => n++)
      expect(n, file).toBe(rawTensorCount(bytes))
    }
  })

  it('hands out tensor data as views into the file bytes, copying only floats at an unaligned offset', () => {
    let views = 0
    let copies = 0
    for (const file of REAL_MODELS) {
      const bytes = new Uint8Array(fs.readFileSync(file))
      forEachTensor(decodeModelProto(bytes), (t) => {
        if (!t.raw_data?.byteLength) return
        expect(t.raw_data.buffer, file).toBe(bytes.buffer)
        if (t.data_type !== DataType.FLOAT) return
        const values = tensorToFloat32(t)
        const aligned = t.raw_data.byteOffset % 4 === 0
        expect(values.buffer === bytes.buffer, `${file} ${t.name}`).toBe(aligned)
        if (aligned) views++
        else copies++
      })
    }
    // protobuf puts raw_data wherever the field lands: both cases occur in these models
    expect(views).toBeGreaterThan(100)
    expect(copies).toBeGreaterThan(10)
  })
})

describe('external data', () => {
  it.each(RUNNABLE.map((r) => ({ ...r, name: path.basename(r.file) })))('$name runs identically after moving its weights to external data', async ({ file, feeds }) => {
    const dir = freshDir()
    const out = path.join(dir, 'model.onnx')
    const saved = await saveModel(loadModel(file).model, out, { externalData: { location: 'model.weights' } })
    expect(saved.externalPath).toBe(path.join(dir, 'model.weights'))
    expect(listDir(dir)).toEqual(['model.onnx', 'model.weights'])
    expect(saved.modelBytes).toBeLessThan(fs.statSync(file).size / 2)

    const loaded = loadModel(out)
    let moved = 0
    forEachTensor(loaded.model, (t) => {
      if (!isExternal(t)) return
      moved++
      const offset = Number(t.external_data!.find((e) => e.key === 'offset')!.value)
      expect(offset % 4096).toBe(0)
      expect(rawBytes(t, loaded.external!)!.byteLength).toBeGreaterThanOrEqual(1024)
    })
    expect(moved).toBeGreaterThan(0)
    loaded.external!.close()

    const input = feeds()
    expect(outputsDifference(await runOnce(file, input), await runOnce(out, input))).toBeNull()
  })

  it("external then 'inline' restores the original bytes, and the model runs identically", async () => {
    const { file, feeds } = RUNNABLE[0]!
    const dir = freshDir()
    await saveModel(loadModel(file).model, path.join(dir, 'ext.onnx'), { externalData: { location: 'ext.data' } })
    const ext = loadModel(path.join(dir, 'ext.onnx'))
    await saveModel(ext.model, path.join(dir, 'inline.onnx'), { externalData: 'inline', ext: ext.external! })
    ext.external!.close()
    expect(Buffer.compare(fs.readFileSync(path.join(dir, 'inline.onnx')), fs.readFileSync(file))).toBe(0)
    const input = feeds()
    expect(outputsDifference(await runOnce(file, input), await runOnce(path.join(dir, 'inline.onnx'), input))).toBeNull()
  })

  it("'keep' copies external tensors into a new file beside the output, also when saving over the source", async () => {
    const { file, feeds } = RUNNABLE[2]!
    const a = freshDir()
    const b = freshDir()
    await saveModel(loadModel(file).model, path.join(a, 'vad.onnx'), { externalData: { location: 'weights/vad.bin' } })
    const src = loadModel(path.join(a, 'vad.onnx'))
    const saved = await saveModel(src.model, path.join(b, 'copy.onnx'), { externalData: 'keep', ext: src.external! })
    expect(saved.externalPath).toBe(path.join(b, 'copy.onnx.data'))
    // and, the default for a model with external tensors, in place over the files it reads from
    await saveModel(src.model, path.join(a, 'vad.onnx'), { ext: src.external! })
    src.external!.close()
    expect(listDir(a)).toEqual(['vad.onnx', 'vad.onnx.data', 'weights'])
    const input = feeds()
    const want = await runOnce(file, input)
    expect(outputsDifference(want, await runOnce(path.join(b, 'copy.onnx'), input))).toBeNull()
    expect(outputsDifference(want, await runOnce(path.join(a, 'vad.onnx'), input))).toBeNull()
  })

  it('encodeWithExternalData gives the same bytes as saveModel writes', async () => {
    const { model } = loadModel(RUNNABLE[0]!.file)
    const dir = freshDir()
    await saveModel(model, path.join(dir, 'm.onnx'), { externalData: { location: 'm.bin' } })
    const { modelBytes, externalBytes } = encodeWithExternalData(model, 'm.bin')
    expect(Buffer.compare(modelBytes, fs.readFileSync(path.join(dir, 'm.onnx')))).toBe(0)
    expect(Buffer.compare(externalBytes, fs.readFileSync(path.join(dir, 'm.bin')))).toBe(0)
    // the model object itself is left as it was
    expect(Buffer.compare(encodeModelProto(model), fs.readFileSync(RUNNABLE[0]!.file))).toBe(0)
  })

  it('switches to external data by itself when the protobuf would pass the limit', async () => {
    const model = featureModel()
    model.graph!.initializer!.push(floatTensor('Unused', [64, 256], 14)) // 64 KiB
    const dir = freshDir()
    const small = await saveModel(model, path.join(dir, 'fits.onnx'))
    expect(small.externalPath).toBeNull()
    expect(listDir(dir)).toEqual(['fits.onnx'])

    const saved = await saveModel(model, path.join(dir, 'big.onnx'), { maxProtobufBytes: 32 * 1024 })
    expect(saved.externalPath).toBe(path.join(dir, 'big.onnx.data'))
    expect(fs.statSync(path.join(dir, 'big.onnx')).size).toBeLessThan(32 * 1024)
    const loaded = loadModel(path.join(dir, 'big.onnx'))
    const unused = loaded.model.graph!.initializer!.find((t) => t.name === 'Unused')!
    expect(isExternal(unused)).toBe(true)
    expect(Buffer.compare(rawBytes(unused, loaded.external!)!, model.graph!.initializer![1]!.raw_data!)).toBe(0)
    loaded.external!.close()
    const x = f32([ROWS, COLS], 15)
    expect(outputsDifference(await runOnce(path.join(dir, 'fits.onnx'), { x }), await runOnce(path.join(dir, 'big.onnx'), { x }))).toBeNull()
  })

  it("refuses 'inline' over the limit, naming the way out, and writes nothing", async () => {
    const dir = freshDir()
    const err = await saveModel(featureModel(), path.join(dir, 'm.onnx'), { externalData: 'inline', maxProtobufBytes: 1024 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ModelFileError)
    expect((err as Error).message).toMatch(/m\.onnx: the encoded model would be \d+ bytes, over the protobuf limit of 1024 bytes; save with externalData/)
    expect(listDir(dir)).toEqual([])
  })

  it('reads a tensor 4 GiB into its file (sparse) by offset, alone, and quantizes it as if inline', async () => {
    // offsets and lengths are decimal strings: past 2^32 they must survive parsing and positioned reads
    const dir = freshDir()
    const rand = seeded(4)
    const weight = Float32Array.from({ length: 64 * 64 }, () => rand() - 0.5)
    const offset = 2 ** 32 + 4096
    const fd = fs.openSync(path.join(dir, 'big.bin'), 'w')
    fs.writeSync(fd, new Uint8Array(weight.buffer), 0, weight.byteLength, offset)
    fs.closeSync(fd)
    expect(fs.statSync(path.join(dir, 'big.bin')).size).toBe(offset + weight.byteLength)
    const graph = (w: TensorProto): ModelProto => ({
      ir_version: 8, opset_import: [{ domain: '', version: 17 }],
      graph: {
        name: 'main', node: [{ op_type: 'MatMul', input: ['x', 'W'], output: ['y'], name: 'mm' }], initializer: [w],
        input: [valueInfo('x', [1, 64])], output: [valueInfo('y', [1, 64])],
      },
    })
    const external: TensorProto = {
      name: 'W', data_type: DataType.FLOAT, dims: [64, 64], data_location: 1,
      external_data: [{ key: 'location', value: 'big.bin' }, { key: 'offset', value: String(offset) }, { key: 'length', value: String(weight.byteLength) }],
    }
    fs.writeFileSync(path.join(dir, 'model.onnx'), encodeModelProto(graph(external)))
    const rssBefore = process.memoryUsage().rss
    const loaded = loadModel(path.join(dir, 'model.onnx'))
    expect(Buffer.from(tensorToFloat32(loaded.model.graph!.initializer![0]!, loaded.external!).buffer).equals(Buffer.from(weight.buffer))).toBe(true)
    loaded.external!.close()

    const cfg = { common_quant_param: { quant_type: 'WEIGHT_QUANT', bit_num: 8 } }
    const opts = { verify: false, accuracyTarget: false, sizes: false } as const
    const fromFile = await quantizeModel(path.join(dir, 'model.onnx'), cfg, { ...opts, externalDataLocation: 'q.data' })
    // a file this size read whole would take 4 GiB
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 2 ** 20)
    expect(fromFile.report.layers.map((l) => l.tensor)).toEqual(['W'])
    fs.writeFileSync(path.join(dir, 'q.onnx'), fromFile.model)
    fs.writeFileSync(path.join(dir, 'q.data'), fromFile.externalData!.bytes)
    const inline = await quantizeModel(encodeModelProto(graph(makeTensor('W', DataType.FLOAT, [64, 64], weight))), cfg, opts)
    const input = { x: new ort.Tensor('float32', Float32Array.from({ length: 64 }, () => rand() - 0.5), [1, 64]) }
    const [a, b] = [await runOnce(path.join(dir, 'q.onnx'), input), await runOnce(inline.model, input)]
    expect(outputsDifference(a, b)).toBeNull()
  })

  it('an offset or length past the end of the external file is a clear error naming tensor, file, offset, length and size', async () => {
    const dir = freshDir()
    await saveModel(featureModel(), path.join(dir, 'm.onnx'), { externalData: { location: 'm.bin' } })
    const size = fs.statSync(path.join(dir, 'm.bin')).size
    fs.truncateSync(path.join(dir, 'm.bin'), size - 100)
    expect(() => loadModel(path.join(dir, 'm.onnx'))).toThrow(ModelFileError)
    expect(() => loadModel(path.join(dir, 'm.onnx'))).toThrow(
      new RegExp(`m\\.onnx: graph 'main' initializer 'W': external data 'm\\.bin' offset 0 \\+ length 2048 = 2048 is past the end of the file \\(${size - 100} bytes\\)`),
    )
    // the same check when reading directly
    const ext = new FileExternalData(dir)
    expect(() => ext.read('m.bin', 4096, 10_000)).toThrow(ExternalDataError)
    expect(() => ext.read('m.bin', 4096, 10_000)).toThrow(`external data file 'm.bin' (${size - 100} bytes): offset 4096 + length 10000 runs past the end of the file`)
    ext.close()
  })

  it('rejects locations outside the model folder, on load and on save', async () => {
    const dir = freshDir()
    const model = featureModel()
    const w = model.graph!.initializer![0]!
    for (const location of ['../secret.bin', 'a/../../b.bin', '/etc/passwd', 'C:\\x.bin']) {
      delete w.raw_data
      w.data_location = 1
      w.external_data = [{ key: 'location', value: location }]
      fs.writeFileSync(path.join(dir, 'evil.onnx'), encodeModelProto(model))
      expect(() => loadModel(path.join(dir, 'evil.onnx'))).toThrow(/evil\.onnx: graph 'main' initializer 'W': external data location .* (escapes the model's folder|is an absolute path)/)
    }
    const out = freshDir()
    await expect(saveModel(featureModel(), path.join(out, 'm.onnx'), { externalData: { location: '../m.bin' } })).rejects.toThrow(/escapes the model's folder/)
    expect(listDir(out)).toEqual([])
    expect(resolveLocation('/models', 'sub/w.bin')).toBe(path.join('/models', 'sub', 'w.bin'))
  })

  it('reads small files once and hands out views; large ones per tensor', async () => {
    const dir = freshDir()
    await saveModel(featureModel(), path.join(dir, 'm.onnx'), { externalData: { location: 'm.bin', sizeThreshold: 16 } })
    const { model } = loadModel(path.join(dir, 'm.onnx'))
    const [w] = model.graph!.initializer!
    const { values } = model.graph!.sparse_initializer![0]!

    const cached = new FileExternalData(dir)
    const a = rawBytes(w!, cached)!
    const b = rawBytes(values!, cached)!
    expect(a.buffer).toBe(b.buffer) // one buffer for the file
    expect(tensorToFloat32(w!, cached).buffer).toBe(a.buffer) // float view without a copy (aligned offset)
    cached.close()
    expect(() => cached.read('m.bin', 0, 4)).toThrow(/closed/)

    const perTensor = new FileExternalData(dir, { cacheLimit: 0 })
    const c = rawBytes(w!, perTensor)!
    expect(c.buffer.byteLength).toBe(c.byteLength) // a buffer of exactly the tensor
    expect(Buffer.compare(c, a)).toBe(0)
    perTensor.close()
  })

  it('a failure while writing leaves the old output in place and no temporary files', async () => {
    const dir = freshDir()
    await saveModel(featureModel(), path.join(dir, 'm.onnx'), { externalData: { location: 'm.bin', sizeThreshold: 16 } })
    const loaded = loadModel(path.join(dir, 'm.onnx'))
    const before = listDir(dir).map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('hex')])
    let reads = 0
    const failing = {
      read(location: string, offset: number, length: number | null): Uint8Array {
        if (++reads === 2) throw new Error('disk on fire')
        return loaded.external!.read(location, offset, length)
      },
    }
    const err = await saveModel(loaded.model, path.join(dir, 'm.onnx'), { externalData: 'keep', ext: failing }).catch((e: unknown) => e)
    loaded.external!.close()
    expect(err).toBeInstanceOf(ModelFileError)
    expect((err as Error).message).toMatch(/^.*m\.onnx: cannot write: .*disk on fire$/)
    expect(reads).toBe(2)
    expect(listDir(dir).map((f) => [f, fs.readFileSync(path.join(dir, f)).toString('hex')])).toEqual(before)
  })
})

describe('files that are not models', () => {
  /** load then save, as a converting tool would: the error must come before anything is written */
  async function convert(src: string, dir: string): Promise<unknown> {
    try {
      const { model } = loadModel(src)
      await saveModel(model, path.join(dir, 'out.onnx'))
      return null
    } catch (err) {
      return err
    }
  }

  async function expectRejected(bytes: Uint8Array | null, message: RegExp): Promise<void> {
    const dir = freshDir()
    const src = path.join(dir, 'model.onnx')
    if (bytes) fs.writeFileSync(src, bytes)
    const err = await convert(src, dir)
    expect(err).toBeInstanceOf(ModelFileError)
    expect((err as Error).message).toMatch(message)
    expect((err as Error).message).not.toContain('\n')
    expect(listDir(dir)).toEqual(bytes ? ['model.onnx'] : [])
  }

  const good = fs.readFileSync(MODELS.helloDeepa)

  it('decoding a Buffer checks lengths like decoding a Uint8Array', () => {
    const cut = Buffer.from([0x08, 8, 0x12, 50, 0x61, 0x62, 0x63])
    expect(() => decodeModelProto(cut)).toThrow(/the field at byte 4 runs past the end of the 7 bytes of data$/)
    expect(() => decodeModelProto(good.subarray(0, good.length - 1))).toThrow(new RegExp(`runs past the end of the ${good.length - 1} bytes of data$`))
  })

  it('missing file', () => expectRejected(null, /model\.onnx: no such file$/))
  it('empty file', () => expectRejected(new Uint8Array(0), /model\.onnx: empty file, not an ONNX model$/))

  it.each([1, 2, 10, 50, 1000, 0.25, 0.5, 0.75, -10, -1])('model truncated at %s', async (cut) => {
    const at = cut < 0 ? good.length + cut : cut < 1 ? Math.floor(good.length * cut) : cut
    await expectRejected(good.subarray(0, at), /model\.onnx: (truncated or corrupt protobuf \(the field at byte \d+ runs past the end of the \d+ bytes of data\)|not an ONNX model: no graph)$/)
  })

  it('a nested message cut short inside a whole file names the end of that message, not of the data', async () => {
    const graph = rawFields(good).find((f) => f.num === 7)!
    const cut = concat(good.subarray(0, graph.start), field(7, 2, good.subarray(graph.bodyStart, graph.bodyStart + 50)), good.subarray(graph.end))
    const end = graph.start + field(7, 2, new Uint8Array(50)).length
    await expectRejected(cut, new RegExp(`model\\.onnx: truncated or corrupt protobuf \\(the field at byte \\d+ runs past the end of its enclosing message at byte ${end}\\)$`))
  })

  const SEEDS = Array.from({ length: 16 }, (_, i) => i + 1)
  const ANY_REJECTION = /model\.onnx: (truncated or corrupt protobuf \(.+ (at (byte|offset) \d+|bytes of data)\)|not an ONNX model: .+)$/

  it.each(SEEDS)('random bytes (seed %i)', async (seed) => {
    const rand = seeded(seed)
    const bytes = Uint8Array.from({ length: 16 + Math.floor(rand() * 4096) }, () => Math.floor(rand() * 256))
    await expectRejected(bytes, ANY_REJECTION)
  })

  // well-formed protobuf with random field numbers and values: protobufjs decodes much of this
  // without complaint, so it is the structural checks that must reject it
  it.each(SEEDS)('random well-formed protobuf fields (seed %i)', async (seed) => {
    const rand = seeded(1000 + seed)
    const int = (n: number): number => Math.floor(rand() * n)
    const parts = Array.from({ length: 1 + int(20) }, () => {
      const num = 1 + int(30)
      const wire = ([0, 1, 2, 5] as const)[int(4)]!
      if (wire === 0) return field(num, 0, int(2 ** 31))
      const len = wire === 1 ? 8 : wire === 5 ? 4 : int(64)
      return field(num, wire, Uint8Array.from({ length: len }, () => int(256)))
    })
    await expectRejected(concat(...parts), ANY_REJECTION)
  })

  it.each<[string, Uint8Array, RegExp]>([
    ['a protobuf without a graph', concat(field(1, 0, 9), field(2, 2, Buffer.from('x'))), /not an ONNX model: no graph$/],
    ['ir_version 0, no opset_import', encodeModelProto({ graph: { name: 'g' } }), /not an ONNX model: no ir_version$/],
    ['no opset_import', encodeModelProto({ ir_version: 8, graph: { name: 'g' } }), /not an ONNX model: no opset_import$/],
    ['ir_version from the future', encodeModelProto({ ir_version: 99, opset_import: [{ version: 1 }], graph: {} }), /ir_version 99 is not in 1\.\.12$/],
    ['a node without op_type in a subgraph', encodeModelProto({
      ir_version: 8, opset_import: [{ version: 17 }],
      graph: { name: 'g', node: [{ op_type: 'If', attribute: [{ name: 'then_branch', type: AttributeType.GRAPH, g: { name: 'then', node: [{ name: 'n0' }] } }] }] },
    }), /not an ONNX model: node #0 'n0' in subgraph of node 'If' 'then' has no op_type$/],
    // ir_version 8, then a producer_name that claims 50 bytes where 3 follow (protobufjs's Buffer
    // reader clamps such a string instead of failing; the codec must not use it)
    ['a string running past the end', Uint8Array.from([0x08, 8, 0x12, 50, 0x61, 0x62, 0x63]),
      /truncated or corrupt protobuf \(the field at byte 4 runs past the end of the 7 bytes of data\)$/],
    // a serialized TensorProto (dims, data_type, name, raw_data): field 1 reads as an ir_version
    ['a TensorProto file', concat(field(1, 0, 3), field(2, 0, 1), field(8, 2, Buffer.from('t')), field(9, 2, new Uint8Array(12))),
      /(truncated or corrupt protobuf|not an ONNX model)/],
  ])('a valid protobuf that is not a model: %s', (_, bytes, message) => expectRejected(bytes, message))
})

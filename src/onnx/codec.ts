import protobuf from 'protobufjs'
import { ONNX_PROTO } from './onnx-proto.js'
import type { ModelProto, TensorProto } from './onnx-types.js'

type Decode = (reader: protobuf.Reader | Uint8Array, length?: number, end?: number, depth?: number) => protobuf.Message
type Encode = (message: object, writer?: protobuf.Writer, depth?: number) => protobuf.Writer

/** What `decodeModelProto` throws for bytes that are not an ONNX model. */
export class OnnxDecodeError extends Error {
  override name = 'OnnxDecodeError'
}

const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root
root.resolveAll()
const modelType = root.lookupType('onnx.ModelProto')
const tensorType = root.lookupType('onnx.TensorProto')

// protobufjs drops fields its schema does not name. ONNX grows new fields every release and
// vendors add their own, so each message keeps the raw bytes of such fields in `$unknown` and
// writes them back after its known fields (field order inside a message carries no meaning).
function preserveUnknownFields(type: protobuf.Type): void {
  type.setup()
  const known = new Map(type.fieldsArray.map((f) => [f.id, wireTypesOf(f)]))
  const decode = type.decode as unknown as Decode
  const encode = type.encode as unknown as Encode
  const wrappedDecode: Decode = function (this: protobuf.Type, input, length, end, depth) {
    const reader = input instanceof protobuf.Reader ? input : protobuf.Reader.create(input)
    const start = reader.pos
    const stop = length === undefined ? reader.len : start + length
    const message = decode.call(this, reader, length, end, depth) as protobuf.Message & { $unknown?: Uint8Array[] }
    const unknown = collectUnknown(reader.buf, start, Math.min(stop, reader.pos), known)
    if (unknown) message.$unknown = unknown
    return message
  }
  const wrappedEncode: Encode = function (this: protobuf.Type, message, writer, depth) {
    const w = encode.call(this, message, writer, depth)
    const unknown = (message as { $unknown?: Uint8Array[] }).$unknown
    if (unknown) for (const raw of unknown) pushRaw(w, raw)
    return w
  }
  ;(type as unknown as { decode: Decode }).decode = wrappedDecode
  ;(type as unknown as { encode: Encode }).encode = wrappedEncode
}

function pushRaw(writer: protobuf.Writer, raw: Uint8Array): void {
  // Writer has no public "append raw bytes"; _push is the primitive its own bytes() uses.
  const w = writer as unknown as { _push(fn: (v: Uint8Array, b: Uint8Array, p: number) => void, len: number, val: Uint8Array): void }
  w._push((val, buf, pos) => buf.set(val, pos), raw.length, raw)
}

const VARINT_TYPES = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'bool'])

/**
 * The wire types a field may arrive in. protobufjs reads a known field by its schema type whatever
 * the tag says, so a mismatched tag (a corrupt file) would be misread silently; checking it here
 * turns that into a decode error.
 */
function wireTypesOf(field: protobuf.Field): number[] {
  let scalar: number
  if (field.resolvedType instanceof protobuf.Enum || VARINT_TYPES.has(field.type)) scalar = 0
  else if (field.type === 'float' || field.type === 'fixed32' || field.type === 'sfixed32') scalar = 5
  else if (field.type === 'double' || field.type === 'fixed64' || field.type === 'sfixed64') scalar = 1
  else return [2]
  // repeated numbers may come packed (length-delimited) or one per tag
  return field.repeated ? [scalar, 2] : [scalar]
}

function collectUnknown(buf: Uint8Array, start: number, end: number, known: Map<number, number[]>): Uint8Array[] | undefined {
  let out: Uint8Array[] | undefined
  let pos = start
  while (pos < end) {
    const fieldStart = pos
    let tag = 0
    let shift = 0
    let b: number
    do {
      b = buf[pos++]!
      tag += (b & 0x7f) * 2 ** shift
      shift += 7
    } while (b & 0x80 && pos < end)
    const wire = tag % 8
    const id = Math.floor(tag / 8)
    pos = skipValue(buf, pos, end, wire)
    if (pos > end) throw new OnnxDecodeError(`field ${id} runs past the end of its message at byte ${fieldStart}`)
    const wires = known.get(id)
    if (!wires) (out ??= []).push(buf.subarray(fieldStart, pos))
    else if (!wires.includes(wire)) throw new OnnxDecodeError(`field ${id} has wire type ${wire} at byte ${fieldStart}, expected ${wires.join(' or ')}`)
  }
  return out
}

function readVarint(buf: Uint8Array, pos: number, end: number): [number, number] {
  let value = 0
  let shift = 0
  let b: number
  do {
    if (pos >= end) throw new OnnxDecodeError('truncated varint')
    b = buf[pos++]!
    if (shift < 53) value += (b & 0x7f) * 2 ** shift
    shift += 7
  } while (b & 0x80)
  return [value, pos]
}

function skipValue(buf: Uint8Array, pos: number, end: number, wire: number): number {
  switch (wire) {
    case 0: return readVarint(buf, pos, end)[1]
    case 1: return pos + 8
    case 2: {
      const [len, p] = readVarint(buf, pos, end)
      return p + len
    }
    case 5: return pos + 4
    case 3: {
      // group: skip nested fields until the matching end-group tag
      for (;;) {
        const [tag, p] = readVarint(buf, pos, end)
        pos = p
        if (tag % 8 === 4) return pos
        pos = skipValue(buf, pos, end, tag % 8)
      }
    }
    default: throw new OnnxDecodeError(`invalid wire type ${wire}`)
  }
}

function allTypes(ns: protobuf.NamespaceBase, out: protobuf.Type[] = []): protobuf.Type[] {
  for (const nested of ns.nestedArray) {
    if (nested instanceof protobuf.Type) out.push(nested)
    if (nested instanceof protobuf.Namespace || nested instanceof protobuf.Type) allTypes(nested, out)
  }
  return out
}
for (const type of allTypes(root)) preserveUnknownFields(type)

/**
 * The same bytes as a plain Uint8Array. protobufjs reads a Node Buffer with its BufferReader,
 * whose string() clamps a length that runs past the end instead of failing, so a truncated file
 * read with fs.readFile would decode "successfully"; the plain reader checks every length.
 */
function plainView(bytes: Uint8Array): Uint8Array {
  return Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes
}

/**
 * Decode ModelProto bytes. Tensor `raw_data` fields are views into `bytes` (no copy), so keep
 * `bytes` alive and unmodified as long as the model is in use.
 */
export function decodeModelProto(bytes: Uint8Array): ModelProto {
  const reader = protobuf.Reader.create(plainView(bytes))
  try {
    return modelType.decode(reader) as unknown as ModelProto
  } catch (err) {
    // Some of protobufjs's errors give no position (the check of a nested message's length says
    // only "index out of range"); the reader then stands at the message or field at fault.
    const message = (err as Error).message
    // "index out of range[: <pos> + <length> > <end>]": <end>, like reader.len, is the end of the
    // message being read, which for a nested one is not the end of the data
    const range = /^index out of range(?:: (\d+) \+ \d+ > (\d+))?$/.exec(message)
    if (range) {
      const [pos, end] = range[1] ? [Number(range[1]), Number(range[2])] : [reader.pos, reader.len]
      const past = end >= bytes.byteLength ? `the end of the ${bytes.byteLength} bytes of data` : `the end of its enclosing message at byte ${end}`
      throw new OnnxDecodeError(`not a valid ONNX protobuf: the field at byte ${pos} runs past ${past}`)
    }
    const placed = /at offset \d|at byte \d/.test(message)
    throw new OnnxDecodeError(`not a valid ONNX protobuf: ${message}${placed ? '' : ` at byte ${reader.pos}`}`)
  }
}

export function encodeModelProto(model: ModelProto): Uint8Array {
  return modelType.encode(model as object).finish()
}

/**
 * The byte length `encodeModelProto` would produce, without allocating the output buffer. Lets
 * a writer decide whether a model fits protobuf's 2 GiB limit before building a >2 GiB buffer.
 */
export function encodedModelSize(model: ModelProto): number {
  return modelType.encode(model as object).len
}

/**
 * Decode a serialized TensorProto (the ONNX test suite's input_N.pb / output_N.pb files).
 * Like `decodeModelProto`, raw_data is a view into `bytes`.
 */
export function decodeTensorProto(bytes: Uint8Array): TensorProto {
  try {
    return tensorType.decode(plainView(bytes)) as unknown as TensorProto
  } catch (err) {
    throw new OnnxDecodeError(`not a valid TensorProto: ${(err as Error).message}`)
  }
}

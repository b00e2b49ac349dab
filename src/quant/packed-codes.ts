import { AttributeType, DataType, type NodeProto, type TensorProto } from '../onnx/onnx-types.js'
import { makeTensor } from '../onnx/tensor-data.js'
import { type NameAllocator } from '../onnx/graph-walk.js'

/**
 * Codes of 9-12 bits split into a high int8 plane and the low bits packed into bytes: code =
 * high * 2^k + low, low in [0, 2^k). As int16 each of these codes costs two bytes; packed, a
 * 9-bit code costs 1.125, a 10-bit 1.25 and an 11/12-bit 1.5. That is what makes a wider code
 * affordable for the few weights that carry most of an 8-bit model's error.
 */
export interface PackedCodes {
  /** Low bits per code: 1 (9 bit), 2 (10 bit) or 4 (11-12 bit). */
  k: number
  high: Int8Array
  /** `8 / k` codes a byte: code e = r * low.length + i sits in bits r*k .. r*k+k-1 of byte i. */
  low: Uint8Array
}

/** Low bits split off a `bits`-bit code, or 0 where the code is not packed (int8 or int16 as is). */
function packedLowBits(bits: number): number {
  return bits === 9 ? 1 : bits === 10 ? 2 : bits === 11 || bits === 12 ? 4 : 0
}

/** Low bits split off the codes of a `bits`-bit tensor of `elements` codes, 0 where they stay whole (int8 or int16). */
function lowBitsFor(bits: number, elements: number): number {
  const k = packedLowBits(bits)
  return k && elements % (8 / k) === 0 ? k : 0
}

/** Bytes a code of `bits` stores at `elements` codes a tensor (the packed form where it applies). */
export function codeBytes(bits: number, elements: number): number {
  if (bits <= 8) return elements
  const k = lowBitsFor(bits, elements)
  return k ? elements * (1 + k / 8) : elements * 2
}

/**
 * What the decode graph of one packed weight adds to the file beyond the int8 form's, on the safe
 * side (measured at 8 bit with the escalated weights packed: PP-OCRv4 rec, opset 9, 560 bytes a
 * weight with the shapes it adds; det and silero, opset 11-16, where Mod saves three nodes, 360-390).
 */
export function packedDecodeBytes(opset: number): number {
  return opset >= 10 ? 450 : 600
}

/**
 * Whether a `bits`-bit weight of `elements` codes is stored packed: the width packs, the count
 * fills whole bytes of low bits, and the planes with their decode nodes come out smaller than
 * int16 (a small weight, a depthwise kernel of a few hundred values, stays int16).
 */
export function packs(bits: number, elements: number, opset: number): boolean {
  return lowBitsFor(bits, elements) > 0 && codeBytes(bits, elements) + packedDecodeBytes(opset) < elements * 2
}

/** Bytes one weight's codes take in the file at `bits`, with the packed form's decode nodes. */
export function storedCodeBytes(bits: number, elements: number, opset: number): number {
  if (bits <= 8) return elements
  return packs(bits, elements, opset) ? codeBytes(bits, elements) + packedDecodeBytes(opset) : elements * 2
}

/**
 * Pack int16 codes of `bits` (9-12), or null when the width is not packed or the element count
 * does not fill whole bytes of low bits (those stay int16).
 */
export function packCodes(codes: Int16Array, bits: number): PackedCodes | null {
  const k = lowBitsFor(bits, codes.length)
  if (!k) return null
  const per = 8 / k
  const m = codes.length / per
  const high = new Int8Array(codes.length)
  const low = new Uint8Array(m)
  const mask = (1 << k) - 1
  for (let r = 0; r < per; r++) {
    const shift = r * k
    for (let i = 0, e = r * m; i < m; i++, e++) {
      const q = codes[e]!
      // arithmetic shift floors, so low = q - high * 2^k is in [0, 2^k) for negative codes too
      high[e] = q >> k
      low[i]! |= (q & mask) << shift
    }
  }
  return { k, high, low }
}

/** The codes back from their planes, as the decode graph computes them (tests and checks). */
export function unpackCodes(p: PackedCodes): Int16Array {
  const per = 8 / p.k
  const m = p.low.length
  const out = new Int16Array(p.high.length)
  const mask = (1 << p.k) - 1
  for (let r = 0; r < per; r++) {
    for (let i = 0, e = r * m; i < m; i++, e++) out[e] = p.high[e]! * (1 << p.k) + ((p.low[i]! >> (r * p.k)) & mask)
  }
  return out
}

/**
 * Gives the name of a small constant shared by every decode of one graph (the powers of two, the
 * unit 2^k, a shape), making it on first use: per weight they cost more than a small weight's low bits.
 */
export type SharedConstant = (key: string, make: (name: string) => TensorProto) => string

/**
 * Nodes computing the float codes `out` (shape `dims`) from a packed weight, with the constant
 * tensors they read. Cast(high) * 2^k + low, where low = Floor(x / 2^(rk)) mod 2^k over
 * x = Cast(low bytes) broadcast against a column of powers of two, then reshaped: Cast, Div,
 * Floor, Mod (fmod, opset 10; below that Floor(y) - 2^k * Floor(y / 2^k)), Mul, Add and
 * Reshape, every value an integer below 2^15,
 * so float32 computes it exactly and the result equals Cast(int16 codes) bit for bit. All inputs
 * are constants: onnxruntime folds the chain with the rest of the decode at load.
 */
export function packedCodeNodes(
  names: NameAllocator, base: string, p: PackedCodes, dims: readonly number[], out: string, shared: SharedConstant, opset: number,
): { tensors: TensorProto[]; nodes: NodeProto[] } {
  const per = 8 / p.k
  const tensors: TensorProto[] = []
  const nodes: NodeProto[] = []
  // The chain's inner values get short names (`pk3/4`) and nodes none: a weight's name is often
  // 30+ characters, and repeated over some 25 names and references it cost 1.5 KB a weight
  // (PP-OCR cls at 9 bit: 74 KB more than 8 bit where the low bits are 15 KB).
  const prefix = names.take('pk')
  let count = 0
  const value = () => names.take(`${prefix}/${++count}`)
  const node = (op: string, input: string[], output = value(), attribute?: [string, number]) => {
    nodes.push({ op_type: op, input, output: [output], ...(attribute ? { attribute: [{ name: attribute[0], type: AttributeType.INT, i: attribute[1] }] } : {}) })
    return output
  }
  const toFloat = ['to', DataType.FLOAT] as [string, number]
  const unit = shared(`unit${p.k}`, (name) => makeTensor(name, DataType.FLOAT, [], Float32Array.of(2 ** p.k)))
  const powers = shared(`powers${p.k}`, (name) => makeTensor(name, DataType.FLOAT, [per, 1], Float32Array.from({ length: per }, (_, r) => 2 ** (r * p.k))))
  const shape = shared(`shape${dims.join('x')}`, (name) => makeTensor(name, DataType.INT64, [dims.length], BigInt64Array.from(dims.map(BigInt))))
  const lowName = names.take(`${base}_quantized_low`)
  tensors.push(makeTensor(lowName, DataType.UINT8, [1, p.low.length], p.low))
  const highName = names.take(`${base}_quantized`)
  tensors.push(makeTensor(highName, DataType.INT8, dims, p.high))
  // [per, M]: row r holds the r-th k bits of every byte, which is element r * M + i
  const below = node('Floor', [node('Div', [node('Cast', [lowName], value(), toFloat), powers])])
  // Mod (opset 10) does in one node what Floor, Div, Mul and Sub do before it
  const bits = opset >= 10
    ? node('Mod', [below, unit], value(), ['fmod', 1])
    : node('Sub', [below, node('Mul', [node('Floor', [node('Div', [below, unit])]), unit])])
  const low = node('Reshape', [bits, shape])
  node('Add', [node('Mul', [node('Cast', [highName], value(), toFloat), unit]), low], out)
  return { tensors, nodes }
}

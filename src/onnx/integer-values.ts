import { DataType, type TensorProto } from './onnx-types.js'
import { elementCount, rawBytes, tensorDims } from './tensor-data.js'

/**
 * The values of an integer tensor of up to 32 bits (DequantizeLinear's codes and zero points);
 * null for another type, or int32_data that does not hold its elements. 4-bit values come two
 * to a byte of raw_data (or to an int32_data entry), the first in the low nibble, as ONNX packs them.
 */
export function integerValues(t: TensorProto): Int32Array | null {
  const type = t.data_type ?? 0
  const n = elementCount(tensorDims(t))
  const fourBit = type === DataType.INT4 || type === DataType.UINT4
  const raw = rawBytes(t)
  if (raw) {
    // Buffer#slice is a view: copy through Uint8Array's slice to realign
    const copy = Uint8Array.prototype.slice.call(raw)
    if (fourBit) return nibbles(copy, n, type === DataType.INT4)
    switch (type) {
      case DataType.INT8: return Int32Array.from(new Int8Array(copy.buffer, 0, n))
      case DataType.UINT8: return Int32Array.from(new Uint8Array(copy.buffer, 0, n))
      case DataType.INT16: return Int32Array.from(new Int16Array(copy.buffer, 0, n))
      case DataType.UINT16: return Int32Array.from(new Uint16Array(copy.buffer, 0, n))
      case DataType.INT32: return new Int32Array(copy.buffer, 0, n)
      default: return null
    }
  }
  const data = t.int32_data ?? []
  if (fourBit) return data.length === Math.ceil(n / 2) ? nibbles(Uint8Array.from(data), n, type === DataType.INT4) : null
  const stored = type === DataType.INT8 || type === DataType.UINT8 || type === DataType.INT16 || type === DataType.UINT16 || type === DataType.INT32
  return stored && data.length === n ? Int32Array.from(data) : null
}

/** `n` 4-bit values packed two to a byte, the first in the low nibble; `signed` for INT4. */
function nibbles(bytes: Uint8Array, n: number, signed: boolean): Int32Array {
  if (bytes.length < Math.ceil(n / 2)) throw new RangeError(`${bytes.length} bytes hold fewer than ${n} 4-bit values`)
  const out = new Int32Array(n)
  for (let i = 0; i < n; i++) {
    const v = (bytes[i >> 1]! >> ((i & 1) * 4)) & 15
    out[i] = signed && v > 7 ? v - 16 : v
  }
  return out
}

import { halfToFloat } from './float16.js'
import { DataType, type TensorProto, int64ToNumber } from './onnx-types.js'

/** Reads the bytes that a tensor's external_data entry points at (see external-data.ts). */
export interface ExternalDataSource {
  read(location: string, offset: number, length: number | null): Uint8Array
}

export class TensorDataError extends Error {
  override name = 'TensorDataError'
}

const ELEMENT_BYTES: Partial<Record<DataType, number>> = {
  [DataType.FLOAT]: 4, [DataType.UINT8]: 1, [DataType.INT8]: 1, [DataType.UINT16]: 2,
  [DataType.INT16]: 2, [DataType.INT32]: 4, [DataType.INT64]: 8, [DataType.BOOL]: 1,
  [DataType.FLOAT16]: 2, [DataType.DOUBLE]: 8, [DataType.UINT32]: 4, [DataType.UINT64]: 8,
  [DataType.BFLOAT16]: 2,
}

export function elementBytes(type: number): number | undefined {
  return ELEMENT_BYTES[type as DataType]
}

export function tensorDims(t: TensorProto): number[] {
  return (t.dims ?? []).map(int64ToNumber)
}

export function elementCount(dims: readonly number[]): number {
  let n = 1
  for (const d of dims) n *= d
  return n
}

export function externalEntry(t: TensorProto, key: string): string | undefined {
  return t.external_data?.find((e) => e.key === key)?.value
}

export function isExternal(t: TensorProto): boolean {
  return t.data_location === 1
}

/**
 * The float32 values of a FLOAT, FLOAT16, BFLOAT16 or DOUBLE tensor. For little-endian raw FLOAT
 * data at an aligned offset this is a view, not a copy.
 */
export function tensorToFloat32(t: TensorProto, ext?: ExternalDataSource, scratch?: () => Float32Array): Float32Array {
  const type = t.data_type ?? 0
  const n = elementCount(tensorDims(t))
  const raw = rawBytes(t, ext)
  if (raw) {
    const width = elementBytes(type)
    if (width !== undefined && raw.byteLength !== n * width) {
      throw new TensorDataError(`tensor '${t.name}': ${raw.byteLength} data bytes for ${n} elements of ${width} bytes`)
    }
    switch (type) {
      case DataType.FLOAT:
        if (raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer, raw.byteOffset, n)
        if (scratch) {
          // realign into the caller's reusable buffer rather than allocating a copy per tensor
          const out = scratch().subarray(0, n)
          new Uint8Array(out.buffer, out.byteOffset, n * 4).set(raw)
          return out
        }
        // Buffer#slice is a view, so copy through Uint8Array's slice to realign
        return new Float32Array(Uint8Array.prototype.slice.call(raw).buffer, 0, n)
      case DataType.DOUBLE: {
        const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
        const out = new Float32Array(n)
        for (let i = 0; i < n; i++) out[i] = dv.getFloat64(i * 8, true)
        return out
      }
      case DataType.FLOAT16: {
        const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
        const out = new Float32Array(n)
        for (let i = 0; i < n; i++) out[i] = halfToFloat(dv.getUint16(i * 2, true))
        return out
      }
      case DataType.BFLOAT16: {
        const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength)
        const out = new Float32Array(n)
        const tmp = new DataView(new ArrayBuffer(4))
        for (let i = 0; i < n; i++) {
          tmp.setUint32(0, dv.getUint16(i * 2, true) << 16)
          out[i] = tmp.getFloat32(0)
        }
        return out
      }
    }
  } else {
    switch (type) {
      case DataType.FLOAT: {
        const data = t.float_data ?? []
        if (data.length !== n) throw new TensorDataError(`tensor '${t.name}': ${data.length} float_data values for ${n} elements`)
        return Float32Array.from(data)
      }
      case DataType.DOUBLE: {
        const data = t.double_data ?? []
        if (data.length !== n) throw new TensorDataError(`tensor '${t.name}': ${data.length} double_data values for ${n} elements`)
        return Float32Array.from(data)
      }
      case DataType.FLOAT16: {
        // float16 values sit in int32_data as their bit patterns
        const data = t.int32_data ?? []
        if (data.length !== n) throw new TensorDataError(`tensor '${t.name}': ${data.length} int32_data values for ${n} elements`)
        return Float32Array.from(data, (v) => halfToFloat(v & 0xffff))
      }
      case DataType.BFLOAT16: {
        // so do bfloat16's: the high half of a float32
        const data = t.int32_data ?? []
        if (data.length !== n) throw new TensorDataError(`tensor '${t.name}': ${data.length} int32_data values for ${n} elements`)
        const bits = Uint32Array.from(data, (v) => (v & 0xffff) << 16)
        return new Float32Array(bits.buffer)
      }
    }
  }
  throw new TensorDataError(`tensor '${t.name}': data type ${DataType[type] ?? type} is not a floating-point type`)
}

/**
 * The element count of a floating-point tensor after checking that its data is all there,
 * without converting it (for planning work before the values are read).
 */
export function checkedFloatLength(t: TensorProto, ext?: ExternalDataSource): number {
  const type = t.data_type ?? 0
  const n = elementCount(tensorDims(t))
  const width = elementBytes(type)
  const declared = isExternal(t) ? externalEntry(t, 'length') : undefined
  if (declared !== undefined && ext) {
    // external data: the declared length says it (the loader checked it against the file) without
    // reading gigabytes just to count them
    if (width === undefined || Number(declared) !== n * width) throw new TensorDataError(`tensor '${t.name}': external length ${declared} for ${n} elements of ${width ?? '?'} bytes`)
    return n
  }
  const raw = rawBytes(t, ext)
  if (raw) {
    if (width === undefined || raw.byteLength !== n * width) throw new TensorDataError(`tensor '${t.name}': ${raw.byteLength} data bytes for ${n} elements of ${width ?? '?'} bytes`)
    return n
  }
  const stored = type === DataType.FLOAT ? t.float_data?.length : type === DataType.DOUBLE ? t.double_data?.length : type === DataType.FLOAT16 || type === DataType.BFLOAT16 ? t.int32_data?.length : undefined
  if (stored !== n) throw new TensorDataError(`tensor '${t.name}': ${stored ?? 0} stored values for ${n} elements`)
  return n
}

/** The tensor's raw little-endian bytes, from raw_data or external data; null when stored in typed fields. */
export function rawBytes(t: TensorProto, ext?: ExternalDataSource): Uint8Array | null {
  if (isExternal(t)) {
    const location = externalEntry(t, 'location')
    if (!location) throw new TensorDataError(`tensor '${t.name}': external data without a location`)
    if (!ext) throw new TensorDataError(`tensor '${t.name}': stored in external file '${location}', but no external data source was given`)
    const offset = Number(externalEntry(t, 'offset') ?? 0)
    const lengthText = externalEntry(t, 'length')
    return ext.read(location, offset, lengthText === undefined ? null : Number(lengthText))
  }
  const raw = t.raw_data
  return raw && (raw.byteLength > 0 || elementCount(tensorDims(t)) === 0) && Object.prototype.hasOwnProperty.call(t, 'raw_data') ? raw : null
}

/** A new tensor with little-endian raw_data. */
export function makeTensor(name: string, dataType: DataType, dims: readonly number[], data: ArrayBufferView): TensorProto {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return { name, data_type: dataType, dims: [...dims], raw_data: bytes }
}

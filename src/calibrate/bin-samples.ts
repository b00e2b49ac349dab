import fs from 'node:fs'
import ort from 'onnxruntime-node'
import { QuantizeError } from '../errors.js'
import { DataType } from '../onnx/onnx-types.js'
import { elementBytes } from '../onnx/tensor-data.js'
import type { InputSpec } from '../runtime/feeds.js'
import { ORT_TYPES } from './input-layout.js'

/**
 * The shape a BIN sample has: fixed dims as declared; a dynamic leading (batch) dim is 1; one
 * remaining unknown dim is inferred from the file size; two unknown trailing dims of an image
 * input (NCHW or NHWC) are taken as a square. Anything else cannot be told from the bytes.
 */
export function binDims(spec: InputSpec, elements: number): number[] | null {
  if (!Number.isInteger(elements)) return null
  const { dims, unknown } = sampleDims(spec)
  const known = dims.reduce<number>((n, d) => n * (d ?? 1), 1)
  if (known === 0 || elements % known !== 0) return null
  const rest = elements / known
  if (unknown.length === 0) return rest === 1 ? (dims as number[]) : null
  // an empty file is 0 of any unknown dim, which onnxruntime rejects deep in the first op
  if (rest === 0) return null
  if (unknown.length === 1) return dims.map((d) => d ?? rest)
  const side = Math.round(Math.sqrt(rest))
  return binSquareGuess(spec) && side * side === rest ? dims.map((d) => d ?? side) : null
}

/** The input's dims for one sample (a dynamic leading batch dim is 1) and where the unknown ones are. */
function sampleDims(spec: InputSpec): { dims: (number | null)[]; unknown: number[] } {
  const dims = spec.dims.map((d, i) => (d !== null && d > 0 ? d : i === 0 && spec.dims.length > 1 ? 1 : null))
  return { dims, unknown: dims.flatMap((d, i) => (d === null ? [i] : [])) }
}

/** Whether binDims reads this input's samples as squares: two unknown spatial dims of an NCHW or NHWC input. */
export function binSquareGuess(spec: InputSpec): boolean {
  const { dims, unknown } = sampleDims(spec)
  return dims.length === 4 && unknown.length === 2 && ((unknown[0] === 2 && unknown[1] === 3) || (unknown[0] === 1 && unknown[1] === 2))
}

/**
 * input_type=BIN: a `.bin` file is the raw little-endian buffer of one input sample in the
 * input's element type and shape. A size that fits no shape is an error naming the file, its size
 * and the size expected.
 */
export function binTensor(file: string, spec: InputSpec): ort.Tensor {
  const type = ORT_TYPES[spec.elemType]
  const width = elementBytes(spec.elemType)
  if (!type || !width) throw new QuantizeError(file, `input '${spec.name}' has element type ${DataType[spec.elemType]}, which BIN calibration does not support`, 'config')
  let buf: Buffer
  try {
    buf = fs.readFileSync(file)
  } catch (err) {
    throw new QuantizeError(file, `cannot read calibration file: ${(err as Error).message}`, 'input')
  }
  const dims = binDims(spec, buf.byteLength / width)
  if (!dims) {
    const known = spec.dims.reduce<number>((n, d) => n * (d ?? 1), 1)
    const fixed = spec.dims.every((d, i) => d !== null || (i === 0 && spec.dims.length > 1))
    const expected = fixed ? `expected ${known * width} bytes`
      : binSquareGuess(spec) ? `expected ${known * width} bytes times a square number (the two unknown dims are read as a square)`
        : `expected a non-zero multiple of ${known * width} bytes`
    throw new QuantizeError(file, `${buf.byteLength} bytes do not fit input '${spec.name}' ${DataType[spec.elemType]} [${spec.dims.map((d) => d ?? '?').join(', ')}]: ${expected}`, 'input')
  }
  const copy = new Uint8Array(buf.byteLength)
  copy.set(buf)
  const ab = copy.buffer
  const data = type === 'float32' ? new Float32Array(ab) : type === 'float64' ? new Float64Array(ab) : type === 'int64' ? new BigInt64Array(ab)
    : type === 'int32' ? new Int32Array(ab) : type === 'int8' ? new Int8Array(ab) : type === 'int16' ? new Int16Array(ab)
    : type === 'uint16' || type === 'float16' ? new Uint16Array(ab) : new Uint8Array(ab)
  return new ort.Tensor(type, data, dims)
}

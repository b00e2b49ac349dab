import fs from 'node:fs'
import path from 'node:path'
import ort from 'onnxruntime-node'
import type { DataPreprocessConfig } from '../cfg/index.js'
import { QuantizeError } from '../errors.js'
import { DataType } from '../onnx/onnx-types.js'
import { elementBytes } from '../onnx/tensor-data.js'
import type { Feeds, InputSpec } from '../runtime/feeds.js'

const ORT_TYPES: Partial<Record<number, ort.Tensor.Type>> = {
  [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.INT64]: 'int64', [DataType.INT32]: 'int32',
  [DataType.INT8]: 'int8', [DataType.UINT8]: 'uint8', [DataType.BOOL]: 'bool', [DataType.INT16]: 'int16',
  [DataType.UINT16]: 'uint16', [DataType.FLOAT16]: 'float16',
}

/** Which folder feeds which model input, checked against the model's inputs. */
export function inputFolders(cfg: DataPreprocessConfig, specs: InputSpec[], cfgFile: string): Map<InputSpec, string> {
  const map = new Map<InputSpec, string>()
  for (const source of cfg.calibratePath) {
    if (source.inputName === null) {
      if (specs.length !== 1) {
        throw new QuantizeError(cfgFile, `calibrate_path is a bare folder but the model has ${specs.length} inputs (${specs.map((s) => s.name).join(', ')}); write input_name:folder for each`, 'config')
      }
      map.set(specs[0]!, source.dir)
      continue
    }
    const spec = specs.find((s) => s.name === source.inputName)
    if (!spec) throw new QuantizeError(cfgFile, `calibrate_path names input '${source.inputName}', but the model's inputs are: ${specs.map((s) => s.name).join(', ')}`, 'config')
    map.set(spec, source.dir)
  }
  for (const spec of specs) if (!map.has(spec)) throw new QuantizeError(cfgFile, `calibrate_path gives no folder for model input '${spec.name}'`, 'config')
  return map
}

/** The sorted files of a calibration folder, the first `limit`; an empty or missing folder is an error. */
export function calibrationFiles(dir: string, limit: number, cfgFile: string, filter: (name: string) => boolean): string[] {
  let names: string[]
  try {
    names = fs.readdirSync(dir)
  } catch {
    throw new QuantizeError(cfgFile, `calibration folder ${dir} does not exist or cannot be read`, 'config')
  }
  const files = names.filter(filter).sort().map((n) => path.join(dir, n))
  if (files.length === 0) throw new QuantizeError(cfgFile, `calibration folder ${dir} has no calibration files`, 'config')
  return files.slice(0, limit)
}

/**
 * The shape a BIN sample has: fixed dims as declared; a dynamic leading (batch) dim is 1; one
 * remaining unknown dim is inferred from the file size; two unknown trailing dims of an image
 * input (NCHW or NHWC) are taken as a square. Anything else cannot be told from the bytes.
 */
export function binDims(spec: InputSpec, elements: number): number[] | null {
  if (!Number.isInteger(elements)) return null
  const dims = spec.dims.map((d, i) => (d !== null && d > 0 ? d : i === 0 && spec.dims.length > 1 ? 1 : null))
  const unknown = dims.flatMap((d, i) => (d === null ? [i] : []))
  const known = dims.reduce<number>((n, d) => n * (d ?? 1), 1)
  if (known === 0 || elements % known !== 0) return null
  const rest = elements / known
  if (unknown.length === 0) return rest === 1 ? (dims as number[]) : null
  if (unknown.length === 1) return dims.map((d) => d ?? rest)
  const side = Math.round(Math.sqrt(rest))
  const rank = dims.length
  const spatial = rank === 4 && unknown.length === 2 && ((unknown[0] === 2 && unknown[1] === 3) || (unknown[0] === 1 && unknown[1] === 2))
  return spatial && side * side === rest ? dims.map((d) => d ?? side) : null
}

/**
 * input_type=BIN: each `.bin` file is the raw little-endian buffer of one input sample in the
 * input's element type and shape. A symbolic dimension is inferred when exactly one is unknown.
 */
export function binSamples(cfg: DataPreprocessConfig, specs: InputSpec[], cfgFile: string, limit: number): Feeds[] {
  const folders = inputFolders(cfg, specs, cfgFile)
  const perInput = new Map<InputSpec, string[]>()
  for (const [spec, dir] of folders) perInput.set(spec, calibrationFiles(dir, Math.min(limit, cfg.calibrateSize), cfgFile, (n) => n.endsWith('.bin')))
  const count = Math.min(...[...perInput.values()].map((f) => f.length))
  const samples: Feeds[] = []
  for (let k = 0; k < count; k++) {
    const feeds: Feeds = {}
    for (const [spec, files] of perInput) feeds[spec.name] = binTensor(files[k]!, spec)
    samples.push(feeds)
  }
  return samples
}

function binTensor(file: string, spec: InputSpec): ort.Tensor {
  const type = ORT_TYPES[spec.elemType]
  const width = elementBytes(spec.elemType)
  if (!type || !width) throw new QuantizeError(file, `input '${spec.name}' has element type ${DataType[spec.elemType]}, which BIN calibration does not support`, 'config')
  const buf = fs.readFileSync(file)
  const dims = binDims(spec, buf.byteLength / width)
  if (!dims) {
    const known = spec.dims.reduce<number>((n, d) => n * (d ?? 1), 1)
    throw new QuantizeError(file, `${buf.byteLength} bytes do not fit input '${spec.name}' ${DataType[spec.elemType]} [${spec.dims.map((d) => d ?? '?').join(', ')}] (${known * width} bytes per unit of its unknown dims)`, 'input')
  }
  const copy = new Uint8Array(buf.byteLength)
  copy.set(buf)
  const ab = copy.buffer
  const data = type === 'float32' ? new Float32Array(ab) : type === 'float64' ? new Float64Array(ab) : type === 'int64' ? new BigInt64Array(ab)
    : type === 'int32' ? new Int32Array(ab) : type === 'int8' ? new Int8Array(ab) : type === 'int16' ? new Int16Array(ab)
    : type === 'uint16' || type === 'float16' ? new Uint16Array(ab) : new Uint8Array(ab)
  return new ort.Tensor(type, data, dims)
}

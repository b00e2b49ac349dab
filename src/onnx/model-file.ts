// Reading and writing .onnx files on disk: validation of what was read (protobuf decodes many
// byte strings that are not models), external data next to the model, and atomic writes.
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import fsp from 'node:fs/promises'
import path from 'node:path'
import { QuantizeError } from '../errors.js'
import { makeDirs } from '../make-dirs.js'
import { decodeModelProto, encodedModelSize } from './codec.js'
import {
  DEFAULT_SIZE_THRESHOLD,
  type ExternalLayout,
  type FileExternalDataOptions,
  type LayoutPolicy,
  FileExternalData,
  PROTOBUF_LIMIT,
  encodeWithinLimit,
  externalRef,
  planExternalData,
  resolveLocation,
  withExternalLayout,
} from './external-data.js'
import { type GraphProto, type ModelProto, type NodeProto, int64ToNumber } from './onnx-types.js'
import { type ExternalDataSource, isExternal } from './tensor-data.js'
import { forEachTensor, hasExternalData } from './tensors.js'

/**
 * A model file that cannot be read or written; the message is "<file>: <problem>" on one line.
 * A QuantizeError, so that callers of quantizeModel catch one class for every file problem.
 */
export class ModelFileError extends QuantizeError {
  override name = 'ModelFileError'
  readonly problem: string
  constructor(file: string, problem: string, options?: ErrorOptions) {
    super(file, problem, 'input', options)
    this.problem = problem
  }
}

/**
 * Highest IR version accepted (onnx 1.19 writes 11; 12 leaves room for the next). The bound is
 * what rejects most random bytes that happen to decode, so it is kept tight; raise it when ONNX
 * ships a new IR version.
 */
export const MAX_IR_VERSION = 12

/** An .onnx file's bytes and their decoding, before loadModel's checks. */
export interface ModelFileRead {
  /** the file's bytes; raw_data of the model's tensors are views into them */
  bytes: Uint8Array
  model: ModelProto
}

export interface LoadedModel extends ModelFileRead {
  /** external data rooted at the model's folder; null when no tensor is external. Call close() when done. */
  external: FileExternalData | null
  path: string
}

/** Read and decode an .onnx file, unchecked. Throws ModelFileError. */
export function readModelFile(file: string): ModelFileRead {
  let bytes: Uint8Array
  try {
    // a protobuf cannot exceed 2 GiB: don't read a bigger file just to fail decoding it
    const size = fs.statSync(file).size
    if (size >= 2 ** 31) throw new ModelFileError(file, `${size} bytes is over protobuf's 2 GiB limit: not a single ONNX protobuf`)
    bytes = fs.readFileSync(file)
  } catch (err) {
    if (err instanceof ModelFileError) throw err
    const code = (err as NodeJS.ErrnoException).code
    throw new ModelFileError(file, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? (err as Error).message})`, { cause: err })
  }
  if (bytes.byteLength === 0) throw new ModelFileError(file, 'empty file, not an ONNX model')
  try {
    // (codec decodes a Buffer through a plain Uint8Array view, so a string cut short fails here)
    return { bytes, model: decodeModelProto(bytes) }
  } catch (err) {
    throw new ModelFileError(file, `truncated or corrupt protobuf (${describeDecodeError(err as Error)})`, { cause: err })
  }
}

/**
 * Read, decode and check an .onnx file. Every external-data reference is checked against its
 * file (inside the model's folder, offset and length within the file) so a broken model fails
 * here, naming the tensor, rather than halfway through quantization. `read` is the file as a
 * caller read it already (the CLI's output checks), not read again. Throws ModelFileError.
 */
export function loadModel(file: string, options: FileExternalDataOptions = {}, read: ModelFileRead = readModelFile(file)): LoadedModel {
  const { bytes, model } = read
  validateModel(model, file)
  const external = hasExternalData(model) ? new FileExternalData(path.dirname(path.resolve(file)), options) : null
  if (external) {
    try {
      checkExternalRefs(model, external)
    } catch (err) {
      external.close()
      throw new ModelFileError(file, (err as Error).message, { cause: err })
    }
  }
  return { model, bytes, external, path: file }
}

function describeDecodeError(err: Error): string {
  return err.message.replace(/^not a valid ONNX protobuf: /, '')
}

/**
 * Why a decoded protobuf is not an ONNX model, or null. protobufjs decodes many random byte
 * strings without error (any varint is an int64, any bytes a string), so these structural checks
 * are what tell a model from noise.
 */
export function modelProblem(model: ModelProto): string | null {
  const ir = int64ToNumber(model.ir_version)
  if (ir === 0) return 'no ir_version'
  if (!Number.isInteger(ir) || ir < 1 || ir > MAX_IR_VERSION) return `ir_version ${ir} is not in 1..${MAX_IR_VERSION}`
  if (!model.graph) return 'no graph'
  const opsets = model.opset_import ?? []
  if (ir >= 3 && opsets.length === 0) return 'no opset_import'
  for (const o of opsets) {
    const v = int64ToNumber(o.version)
    if (!Number.isInteger(v) || v < 1) return `opset_import '${o.domain ?? ''}' has version ${v}`
  }
  const nodeProblem = graphNodeProblem(model.graph, 'graph')
  if (nodeProblem) return nodeProblem
  for (const f of model.functions ?? []) {
    const p = nodesProblem(f.node ?? [], `function '${f.name ?? ''}'`)
    if (p) return p
  }
  return null
}

/** Throw ModelFileError("<file>: not an ONNX model: <problem>") unless `model` passes modelProblem. */
export function validateModel(model: ModelProto, file: string): void {
  const problem = modelProblem(model)
  if (problem) throw new ModelFileError(file, `not an ONNX model: ${problem}`)
}

function graphNodeProblem(graph: GraphProto, where: string): string | null {
  return nodesProblem(graph.node ?? [], `${where} '${graph.name ?? ''}'`)
}

function nodesProblem(nodes: readonly NodeProto[], where: string): string | null {
  for (const [i, node] of nodes.entries()) {
    if (!node.op_type) return `node #${i}${node.name ? ` '${node.name}'` : ''} in ${where} has no op_type`
    for (const attr of node.attribute ?? []) {
      const subgraphs = [...(attr.g ? [attr.g] : []), ...(attr.graphs ?? [])]
      for (const g of subgraphs) {
        const p = graphNodeProblem(g, `subgraph of node '${node.name || node.op_type}'`)
        if (p) return p
      }
    }
  }
  return null
}

function checkExternalRefs(model: ModelProto, external: FileExternalData): void {
  forEachTensor(model, (t, where) => {
    if (!isExternal(t)) return
    const ref = externalRef(t, where)
    let size: number
    try {
      size = external.fileSize(ref.location)
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`, { cause: err })
    }
    const end = ref.offset + (ref.length ?? 0)
    if (ref.offset > size || end > size) {
      throw new Error(
        `${where}: external data '${ref.location}' offset ${ref.offset} + length ${ref.length ?? '(to end)'} = ${end} ` +
          `is past the end of the file (${size} bytes)`,
      )
    }
  })
}

/**
 * - 'keep': tensors external now stay external, copied (from `ext`) into `<model file>.data`
 *   beside the output; the others stay in the protobuf.
 * - 'inline': every tensor goes into the protobuf (fails if that exceeds 2 GiB).
 * - { location, sizeThreshold }: tensors with at least sizeThreshold (default 1024) data bytes go
 *   to `location` (relative to the output's folder), the others into the protobuf.
 * - undefined: 'keep' if the model has external tensors, else everything inline.
 * With 'keep' or undefined, a model whose protobuf would exceed the 2 GiB limit is switched
 * automatically to external data for tensors of 1024 bytes or more.
 */
export type ExternalDataMode = 'keep' | 'inline' | { location: string; sizeThreshold?: number }

export interface SaveModelOptions {
  externalData?: ExternalDataMode
  /** where the model's current external tensors are read from (loadModel's `external`) */
  ext?: ExternalDataSource
  /** for tests: the protobuf size limit (default PROTOBUF_LIMIT, 2 GiB - 64 KiB) */
  maxProtobufBytes?: number
}

export interface SavedModel {
  path: string
  /** the external data file written, or null */
  externalPath: string | null
  modelBytes: number
  externalBytes: number
}

/**
 * Write a model (and its external data file, if any) atomically: each file is written to a
 * temporary name in the same folder, flushed, then renamed over the target, and on any failure
 * the temporaries are removed, so the target is either the old file or the complete new one.
 * (With two files, the data file is renamed first; a crash between the two renames leaves the
 * new data beside the old model.) Memory: the protobuf is built in memory (< 2 GiB); external
 * tensors are written one at a time. The model object is not changed. Throws ModelFileError.
 */
export async function saveModel(model: ModelProto, outPath: string, options: SaveModelOptions = {}): Promise<SavedModel> {
  const { layout, bytes } = layoutAndEncode(model, outPath, options)
  const dir = path.dirname(path.resolve(outPath))
  const temps: string[] = []
  try {
    let externalPath: string | null = null
    let externalTemp: string | null = null
    if (layout.placed.length > 0) {
      externalPath = resolveLocation(dir, layout.location)
      if (externalPath === path.resolve(outPath)) throw new Error(`external data location '${layout.location}' is the model file itself`)
      await makeDirs(path.dirname(externalPath))
      externalTemp = tempName(externalPath)
      temps.push(externalTemp)
      await writeExternalFile(externalTemp, layout)
    }
    const modelTemp = tempName(outPath)
    temps.push(modelTemp)
    await writeDurably(modelTemp, async (fh) => {
      await writeAll(fh, bytes, 0)
    })
    if (externalTemp && externalPath) await fsp.rename(externalTemp, externalPath)
    await fsp.rename(modelTemp, outPath)
    return { path: outPath, externalPath, modelBytes: bytes.byteLength, externalBytes: layout.size }
  } catch (err) {
    await Promise.all(temps.map((t) => fsp.rm(t, { force: true })))
    throw err instanceof ModelFileError ? err : new ModelFileError(outPath, `cannot write: ${(err as Error).message}`, { cause: err })
  }
}

/** Decide the layout (switching to external data when the protobuf would be too big) and encode. */
function layoutAndEncode(model: ModelProto, outPath: string, options: SaveModelOptions): { layout: ExternalLayout; bytes: Uint8Array } {
  const limit = options.maxProtobufBytes ?? PROTOBUF_LIMIT
  const mode = options.externalData
  const defaultLocation = `${path.basename(outPath)}.data`
  try {
    let location = defaultLocation
    let policy: LayoutPolicy
    let automatic = true
    if (mode === 'inline') {
      policy = { sizeThreshold: null, keepExternal: false }
      automatic = false
    } else if (mode === 'keep' || mode === undefined) {
      policy = { sizeThreshold: null, keepExternal: true }
    } else {
      location = mode.location
      policy = { sizeThreshold: mode.sizeThreshold ?? DEFAULT_SIZE_THRESHOLD, keepExternal: false }
      automatic = false
    }
    let layout = planExternalData(model, location, policy, options.ext)
    const size = withExternalLayout(layout, () => encodedModelSize(model))
    if (size > limit) {
      if (!automatic) {
        throw new Error(
          `the encoded model would be ${size} bytes, over the protobuf limit of ${limit} bytes` +
            (mode === 'inline' ? `; save with externalData: { location: '${defaultLocation}' }` : ''),
        )
      }
      layout = planExternalData(model, location, { sizeThreshold: DEFAULT_SIZE_THRESHOLD, keepExternal: true }, options.ext)
    }
    const bytes = withExternalLayout(layout, () => encodeWithinLimit(model, limit))
    return { layout, bytes }
  } catch (err) {
    throw new ModelFileError(outPath, (err as Error).message, { cause: err })
  }
}

function tempName(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
}

/** Create `file` (it must not exist), fill it, flush it to disk, close it. */
async function writeDurably(file: string, fill: (fh: fsp.FileHandle) => Promise<void>): Promise<void> {
  const fh = await fsp.open(file, 'wx')
  try {
    await fill(fh)
    await fh.datasync()
  } finally {
    await fh.close()
  }
}

// FileHandle.write takes at most 2^31-1 bytes per call
const WRITE_CHUNK = 2 ** 30

async function writeAll(fh: fsp.FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0
  while (done < data.byteLength) {
    const { bytesWritten } = await fh.write(data, done, Math.min(WRITE_CHUNK, data.byteLength - done), position + done)
    done += bytesWritten
  }
}

async function writeExternalFile(file: string, layout: ExternalLayout): Promise<void> {
  await writeDurably(file, async (fh) => {
    for (const p of layout.placed) {
      const data = p.data()
      if (data.byteLength !== p.length) throw new Error(`${p.where}: external data source returned ${data.byteLength} bytes, expected ${p.length}`)
      await writeAll(fh, data, p.offset)
    }
    // the last tensor may be empty and sit past the last byte written
    await fh.truncate(layout.size)
  })
}

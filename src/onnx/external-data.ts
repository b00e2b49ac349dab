// ONNX external data: a tensor with data_location = EXTERNAL keeps its bytes in a file beside
// the model, found through its external_data entries `location` (relative to the model's
// folder), `offset` and `length` (absent: to the end of the file). It is how models over
// protobuf's 2 GiB limit are stored. This file reads such data (FileExternalData), and lays out
// and encodes a model whose large tensors move to an external file (planExternalData,
// withExternalLayout, encodeWithExternalData); model-file.ts writes the files.
import { constants as bufferConstants } from 'node:buffer'
import fs from 'node:fs'
import path from 'node:path'
import { encodedModelSize, encodeModelProto } from './codec.js'
import { DataType, type ModelProto, type StringStringEntryProto, type TensorProto } from './onnx-types.js'
import { type ExternalDataSource, externalEntry, isExternal } from './tensor-data.js'
import { forEachTensor } from './tensors.js'

export class ExternalDataError extends Error {
  override name = 'ExternalDataError'
}

/**
 * Largest model protobuf we write. protobuf's own limit is 2 GiB (signed 32-bit sizes, which
 * onnxruntime's parser enforces); the 64 KiB headroom is onnx's, for the bytes a later tool may add.
 */
export const PROTOBUF_LIMIT = 2 ** 31 - 64 * 1024
/** Offset alignment in external files: a page, so a reader can mmap a tensor in place (onnx's convention). */
export const EXTERNAL_ALIGNMENT = 4096
/** Tensors with fewer data bytes stay in the protobuf: an external entry costs more than it saves. */
export const DEFAULT_SIZE_THRESHOLD = 1024
/** Files under this size are read whole once and tensors are views into that one buffer. */
export const DEFAULT_CACHE_LIMIT = 512 * 2 ** 20
// A single read of more than 1 GiB is split: fs.readSync/writeSync take at most 2^31-1 bytes.
const IO_CHUNK = 2 ** 30

/** A tensor's parsed external_data entries. */
export interface ExternalRef {
  location: string
  offset: number
  /** null: to the end of the file */
  length: number | null
}

/**
 * Parse and check a tensor's external_data entries (`checksum` and unknown keys are ignored).
 * `where` names the tensor in errors (default: its name).
 */
export function externalRef(t: TensorProto, where?: string): ExternalRef {
  const label = where ?? `tensor '${t.name ?? ''}'`
  const location = externalEntry(t, 'location')
  if (!location) throw new ExternalDataError(`${label}: external data without a location`)
  const offsetText = externalEntry(t, 'offset')
  const lengthText = externalEntry(t, 'length')
  return {
    location,
    offset: offsetText === undefined ? 0 : parseByteCount(offsetText, label, 'offset'),
    length: lengthText === undefined ? null : parseByteCount(lengthText, label, 'length'),
  }
}

function parseByteCount(text: string, label: string, key: string): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(n)) throw new ExternalDataError(`${label}: external data ${key} '${text}' is not a byte count`)
  return n
}

/**
 * The file a `location` names, inside `baseDir`. Rejects absolute paths and any `..` segment:
 * a model is untrusted input, and without this check a downloaded model could make us read (or,
 * on save, write) any file the process can reach. Symlinks inside the folder are followed on
 * purpose: the Hugging Face cache stores every file of a snapshot as a symlink to a blob.
 */
export function resolveLocation(baseDir: string, location: string): string {
  if (location === '' || location.includes('\0')) throw new ExternalDataError(`external data location '${location}' is not a file name`)
  if (path.posix.isAbsolute(location) || path.win32.isAbsolute(location) || /^[a-zA-Z]:/.test(location)) {
    throw new ExternalDataError(`external data location '${location}' is an absolute path; it must be relative to the model's folder`)
  }
  const parts = location.split(/[\\/]/)
  if (parts.includes('..')) throw new ExternalDataError(`external data location '${location}' escapes the model's folder`)
  const last = parts[parts.length - 1]
  if (last === '' || last === '.') throw new ExternalDataError(`external data location '${location}' names a folder, not a file`)
  return path.join(baseDir, ...parts.filter((p) => p !== '' && p !== '.'))
}

export interface FileExternalDataOptions {
  /** Files smaller than this are read whole and shared (default 512 MiB); larger ones are read per tensor. */
  cacheLimit?: number
}

interface ExternalFile {
  path: string
  size: number
  /** open descriptor; closed (null) once a small file has been read whole */
  fd: number | null
  /** the whole file, for files under the cache limit, read on the first tensor read */
  whole: Uint8Array | null
}

/**
 * External data read from files in a model's folder. Each file is opened once, on first use.
 * Small files are read whole on the first read and `read` returns views into that buffer (no
 * copy per tensor); large ones are read per tensor into a buffer of exactly that tensor's size,
 * so memory stays bounded by the tensors in use rather than by the file. The returned bytes may
 * be shared: do not write into them. Call `close()` to release descriptors and caches.
 */
export class FileExternalData implements ExternalDataSource {
  readonly baseDir: string
  readonly #cacheLimit: number
  readonly #files = new Map<string, ExternalFile>()
  #closed = false

  constructor(baseDir: string, options: FileExternalDataOptions = {}) {
    this.baseDir = path.resolve(baseDir)
    this.#cacheLimit = options.cacheLimit ?? DEFAULT_CACHE_LIMIT
  }

  read(location: string, offset: number, length: number | null): Uint8Array {
    const file = this.#file(location)
    if (!Number.isSafeInteger(offset) || offset < 0 || (length !== null && (!Number.isSafeInteger(length) || length < 0))) {
      throw new ExternalDataError(`external data file '${location}': invalid offset ${offset} or length ${length}`)
    }
    const n = length ?? file.size - offset
    if (offset > file.size || offset + n > file.size) {
      throw new ExternalDataError(
        `external data file '${location}' (${file.size} bytes): offset ${offset} + length ${length ?? '(to end)'} runs past the end of the file`,
      )
    }
    if (file.size < this.#cacheLimit) {
      if (!file.whole) {
        file.whole = readRange(file.fd!, 0, file.size, file.path)
        fs.closeSync(file.fd!)
        file.fd = null
      }
      return file.whole.subarray(offset, offset + n)
    }
    if (n > bufferConstants.MAX_LENGTH) {
      throw new ExternalDataError(`external data file '${location}': a tensor of ${n} bytes is larger than a Node.js buffer can hold`)
    }
    return readRange(file.fd!, offset, n, file.path)
  }

  /** Size in bytes of the external file at `location` (opens it, reads nothing). */
  fileSize(location: string): number {
    return this.#file(location).size
  }

  close(): void {
    this.#closed = true
    for (const file of this.#files.values()) if (file.fd !== null) fs.closeSync(file.fd)
    this.#files.clear()
  }

  #file(location: string): ExternalFile {
    if (this.#closed) throw new ExternalDataError(`external data file '${location}': the external data source was closed`)
    const filePath = resolveLocation(this.baseDir, location)
    let file = this.#files.get(filePath)
    if (file) return file
    let fd: number
    try {
      fd = fs.openSync(filePath, 'r')
    } catch (err) {
      throw new ExternalDataError(`external data file '${location}': cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`)
    }
    file = { path: filePath, size: fs.fstatSync(fd).size, fd, whole: null }
    this.#files.set(filePath, file)
    return file
  }
}

/** Exactly `length` bytes at `offset`, in a buffer of their own (byteOffset 0, so float views need no copy). */
function readRange(fd: number, offset: number, length: number, filePath: string): Uint8Array {
  const buf = Buffer.allocUnsafeSlow(length)
  let done = 0
  while (done < length) {
    const n = fs.readSync(fd, buf, done, Math.min(IO_CHUNK, length - done), offset + done)
    if (n === 0) throw new ExternalDataError(`external data file '${filePath}': file shrank while reading at byte ${offset + done}`)
    done += n
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, length)
}

/** The bytes of an external tensor; errors name the tensor (or `where`) as well as the file. */
export function readExternal(t: TensorProto, ext: ExternalDataSource | undefined, where?: string): Uint8Array {
  const label = where ?? `tensor '${t.name ?? ''}'`
  const ref = externalRef(t, label)
  if (!ext) throw new ExternalDataError(`${label}: stored in external file '${ref.location}', but no external data source was given`)
  try {
    return ext.read(ref.location, ref.offset, ref.length)
  } catch (err) {
    throw new ExternalDataError(`${label}: ${(err as Error).message}`, { cause: err })
  }
}

/** Byte length of an external tensor, without reading it when the source can tell file sizes. */
function externalLength(t: TensorProto, ext: ExternalDataSource | undefined, where: string): number {
  const ref = externalRef(t, where)
  if (ref.length !== null) return ref.length
  if (ext instanceof FileExternalData) {
    try {
      const size = ext.fileSize(ref.location)
      if (ref.offset > size) throw new ExternalDataError(`external data file '${ref.location}' (${size} bytes): offset ${ref.offset} is past the end of the file`)
      return size - ref.offset
    } catch (err) {
      throw new ExternalDataError(`${where}: ${(err as Error).message}`, { cause: err })
    }
  }
  return readExternal(t, ext, where).byteLength
}

/** A tensor whose bytes go into the external file. */
export interface ExternalPlacement {
  tensor: TensorProto
  where: string
  offset: number
  length: number
  /** the bytes, read on demand so a writer holds one tensor at a time */
  data: () => Uint8Array
}

/** How a model's tensors are stored when it is written. */
export interface ExternalLayout {
  /** external file name, relative to the model's folder */
  location: string
  /** tensors written to the external file, in file order */
  placed: ExternalPlacement[]
  /** tensors now external that go back into raw_data */
  inlined: Array<{ tensor: TensorProto; data: Uint8Array }>
  /** external file size in bytes (0: no external file) */
  size: number
}

export interface LayoutPolicy {
  /**
   * Tensors with at least this many data bytes go to the external file, smaller ones into
   * raw_data. null: no size rule (inline tensors stay inline; external ones follow keepExternal).
   */
  sizeThreshold: number | null
  /** Tensors that are external now stay external (copied into the new file) whatever their size. */
  keepExternal: boolean
}

/**
 * Decide where every tensor's data goes. Only raw-data tensors move: tensors stored in typed
 * fields (float_data, string_data, ...) stay in the protobuf, as onnx does, since STRING
 * tensors cannot be external and the others are small in practice.
 */
export function planExternalData(
  model: ModelProto,
  location: string,
  policy: LayoutPolicy,
  ext?: ExternalDataSource,
): ExternalLayout {
  resolveLocation('.', location) // reject unsafe names before anything is written
  const layout: ExternalLayout = { location, placed: [], inlined: [], size: 0 }
  const place = (tensor: TensorProto, where: string, length: number, data: () => Uint8Array): void => {
    const offset = Math.ceil(layout.size / EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT
    layout.placed.push({ tensor, where, offset, length, data })
    layout.size = offset + length
  }
  const threshold = policy.sizeThreshold === null ? Infinity : Math.max(1, policy.sizeThreshold)
  forEachTensor(model, (t, where) => {
    if (isExternal(t)) {
      const length = externalLength(t, ext, where)
      if (policy.keepExternal || length >= threshold) place(t, where, length, () => readExternal(t, ext, where))
      else layout.inlined.push({ tensor: t, data: readExternal(t, ext, where) })
      return
    }
    const raw = ownRawData(t)
    if (raw && t.data_type !== DataType.STRING && raw.byteLength >= threshold) place(t, where, raw.byteLength, () => raw)
  })
  return layout
}

function ownRawData(t: TensorProto): Uint8Array | null {
  // decoded messages inherit an empty raw_data default from their prototype: only an own one is data
  return Object.prototype.hasOwnProperty.call(t, 'raw_data') && t.raw_data ? t.raw_data : null
}

type StorageFields = Pick<TensorProto, 'raw_data' | 'external_data' | 'data_location'>
const STORAGE_KEYS = ['raw_data', 'external_data', 'data_location'] as const

/**
 * Run `fn` (an encoder) with the model's tensors switched to the layout, then put them back.
 * Switching in place and restoring avoids copying the model tree (or its weights); `fn` must be
 * synchronous so nothing else can see the switched state.
 */
export function withExternalLayout<T>(layout: ExternalLayout, fn: () => T): T {
  const saved: Array<[TensorProto, Partial<Record<keyof StorageFields, { value: unknown }>>]> = []
  const save = (t: TensorProto): void => {
    const fields: Partial<Record<keyof StorageFields, { value: unknown }>> = {}
    for (const key of STORAGE_KEYS) if (Object.prototype.hasOwnProperty.call(t, key)) fields[key] = { value: t[key] }
    saved.push([t, fields])
  }
  try {
    for (const p of layout.placed) {
      save(p.tensor)
      const entries: StringStringEntryProto[] = [
        { key: 'location', value: layout.location },
        { key: 'offset', value: String(p.offset) },
        { key: 'length', value: String(p.length) },
      ]
      delete p.tensor.raw_data
      p.tensor.external_data = entries
      p.tensor.data_location = 1
    }
    for (const { tensor, data } of layout.inlined) {
      save(tensor)
      tensor.raw_data = data
      delete tensor.external_data
      delete tensor.data_location
    }
    return fn()
  } finally {
    for (const [t, fields] of saved.reverse()) {
      const record = t as Record<string, unknown>
      for (const key of STORAGE_KEYS) {
        const field = fields[key]
        if (field) record[key] = field.value
        else delete record[key]
      }
    }
  }
}

/** Encode, refusing a protobuf over `limit` bytes before allocating it. */
export function encodeWithinLimit(model: ModelProto, limit: number = PROTOBUF_LIMIT): Uint8Array {
  const size = encodedModelSize(model)
  if (size > limit) throw new ExternalDataError(`the encoded model is ${size} bytes, over the protobuf limit of ${limit} bytes`)
  return encodeModelProto(model)
}

export interface EncodeExternalOptions {
  /** default 1024 bytes */
  sizeThreshold?: number
  /** for tests: the protobuf size limit (default PROTOBUF_LIMIT) */
  maxProtobufBytes?: number
}

/**
 * Encode a model with its large tensors in a separate external-data buffer, for callers that
 * emit both into a bundle rather than onto disk. `location` is the name the external file will
 * have next to the model. Memory: the whole external file is built in one buffer on top of the
 * weights already held (so about twice the weights at the peak, and at most 4 GiB, Node's buffer
 * limit); for large models prefer `saveModel`, which streams tensor by tensor to disk.
 */
export function encodeWithExternalData(
  model: ModelProto,
  location: string,
  ext?: ExternalDataSource,
  options: EncodeExternalOptions = {},
): { modelBytes: Uint8Array; externalBytes: Uint8Array } {
  const layout = planExternalData(model, location, { sizeThreshold: options.sizeThreshold ?? DEFAULT_SIZE_THRESHOLD, keepExternal: false }, ext)
  if (layout.size > bufferConstants.MAX_LENGTH) {
    throw new ExternalDataError(`external data of ${layout.size} bytes is larger than a Node.js buffer can hold; use saveModel`)
  }
  const modelBytes = withExternalLayout(layout, () => encodeWithinLimit(model, options.maxProtobufBytes))
  const externalBytes = new Uint8Array(layout.size)
  for (const p of layout.placed) externalBytes.set(p.data(), p.offset)
  return { modelBytes, externalBytes }
}

import { createHash, type Hash } from 'node:crypto'
import path from 'node:path'
import type { QuantConfig } from '../cfg/types.js'
import { digestBytes, digestFile, type Digest } from './hash.js'
import { stableJson, type JsonValue } from './stable-json.js'
import { engineVersion, ortVersion } from './versions.js'

/** File contents as bytes already in memory, or as the absolute path of a file to stream. */
export type ByteSource = Uint8Array | string

export interface CacheKeyParts {
  model: ByteSource
  /** External data files next to the model; `name` is the location the model refers to. */
  externalData?: readonly { name: string; data: ByteSource }[]
  /** The parsed config; `source` and `warnings` do not take part (see `normalizeCfg`). */
  cfg: QuantConfig
  /**
   * Absolute paths of the calibration files that will be read, sorted. Each takes part by its
   * name inside its folder and its content: the folders themselves are already in the cfg.
   */
  calibrationFiles?: readonly string[]
  /** Any other input that changes the output (quantize options such as accuracyTarget). */
  options?: JsonValue
  /** @default this package's version */
  engineVersion?: string
  /** @default onnxruntime-node's version */
  ortVersion?: string
  /** How files given as paths are digested (a DigestMemo's). @default digestFile */
  digestFile?: (file: string) => Promise<Digest>
}

// bump when the meaning of a key part changes, so old entries stop matching
const KEY_FORMAT = 'unplugin-quantize/cache-key/1'
// files hashed at once: enough to overlap reads with hashing, few enough to bound open files
const PARALLEL_FILES = 4

/**
 * The config as it takes part in the key: stable JSON without `source` (the same cfg at another
 * path gives the same result), `warnings` (diagnostics quote file names and line numbers) and
 * `keyLines` (a comment added above a key moves it, and changes nothing).
 * Resolved paths such as the calibration folders stay: they decide which data is read.
 */
export function normalizeCfg(cfg: QuantConfig): string {
  const { source: _source, warnings: _warnings, keyLines: _keyLines, ...rest } = cfg
  return stableJson(rest, 'cfg')
}

/**
 * sha256 (hex) over everything that decides a quantization result: model and external data
 * bytes, the normalized cfg, calibration file names and bytes, options, and the engine and
 * onnxruntime versions. Files given as paths are streamed, so memory stays bounded.
 */
export async function cacheKey(parts: CacheKeyParts): Promise<string> {
  const calibration = [...(parts.calibrationFiles ?? [])].sort()
  for (const file of calibration) {
    if (!path.isAbsolute(file)) throw new TypeError(`${file}: calibration files for the cache key must be absolute paths`)
  }
  const external = [...(parts.externalData ?? [])].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  const digest = parts.digestFile ?? digestFile
  const source = (s: ByteSource): Promise<Digest> => (typeof s === 'string' ? digest(s) : Promise.resolve(digestBytes(s)))
  const [modelDigest, externalDigests, calibrationDigests] = await Promise.all([
    source(parts.model),
    mapLimited(external, (e) => source(e.data)),
    mapLimited(calibration, digest),
  ])

  const hash = createHash('sha256')
  field(hash, 'format', KEY_FORMAT)
  field(hash, 'engine', parts.engineVersion ?? engineVersion())
  field(hash, 'ort', parts.ortVersion ?? ortVersion())
  field(hash, 'cfg', normalizeCfg(parts.cfg))
  field(hash, 'options', parts.options === undefined ? 'none' : stableJson(parts.options, 'options'))
  digestField(hash, 'model', modelDigest)
  field(hash, 'external-count', String(external.length))
  external.forEach((e, i) => {
    field(hash, 'external-name', e.name)
    digestField(hash, 'external', externalDigests[i]!)
  })
  // Files are told apart by name within their folder plus the folder's rank among the folders,
  // so moving a file to another input's folder changes the key without absolute paths in it.
  const folders = [...new Set(calibration.map((f) => path.dirname(f)))].sort()
  field(hash, 'calibration-count', String(calibration.length))
  calibration.forEach((file, i) => {
    field(hash, 'calibration-folder', String(folders.indexOf(path.dirname(file))))
    field(hash, 'calibration-name', path.basename(file))
    digestField(hash, 'calibration', calibrationDigests[i]!)
  })
  return hash.digest('hex')
}

// Each part is framed as tag, byte length, bytes: without lengths, "ab"+"c" and "a"+"bc" would hash alike.
function field(hash: Hash, tag: string, value: string): void {
  const bytes = Buffer.from(value, 'utf8')
  hash.update(`${tag}\0${bytes.byteLength}\0`)
  hash.update(bytes)
}

function digestField(hash: Hash, tag: string, digest: Digest): void {
  field(hash, tag, `${digest.size}:${digest.sha256}`)
}

async function mapLimited<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL_FILES, items.length) }, worker))
  return results
}

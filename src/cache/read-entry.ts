import fs from 'node:fs'
import path from 'node:path'
import { errorCode, reason } from './cache-error.js'
import { entryDir, MANIFEST } from './layout.js'
import { blobChecksum, parseManifest, type ManifestBlob } from './manifest.js'
import { readAll, readFileSyncWithStat, SYNC_READ_LIMIT } from './read-whole.js'
import type { Blobs } from './types.js'

export type EntryRead =
  /** `lastUsed`: the manifest's mtime in ms, for deciding whether the hit needs recording. */
  | { kind: 'hit'; dir: string; blobs: Blobs; lastUsed: number }
  | { kind: 'absent'; dir: string }
  /** Written by an older version in a manifest format this one no longer checks. */
  | { kind: 'stale'; dir: string; format: number }
  /** `file` is the path the problem was found at, `problem` says what is wrong with it. */
  | { kind: 'corrupt'; dir: string; file: string; problem: string }

type BlobRead = { ok: true; bytes: Buffer } | { ok: false; problem: EntryRead }

/**
 * Read an entry and check it against its manifest: every listed blob must exist with the listed
 * size and CRC-32. Each file is opened once, its size taken from the open descriptor and read in
 * one call: synchronously for small entries, else side by side. Files not in the manifest are
 * ignored.
 */
export async function readEntry(cacheDir: string, key: string): Promise<EntryRead> {
  const dir = entryDir(cacheDir, key)
  const manifestPath = path.join(dir, MANIFEST)
  let text: string
  let lastUsed: number
  try {
    // a manifest is a few hundred bytes: read synchronously (see SYNC_READ_LIMIT)
    const read = readFileSyncWithStat(manifestPath, (size) => size <= SYNC_READ_LIMIT)
    if (!read.bytes) return { kind: 'corrupt', dir, file: manifestPath, problem: `the manifest is ${read.stat.size} bytes, too large to be one` }
    lastUsed = read.stat.mtimeMs
    text = read.bytes.toString('utf8')
  } catch (err) {
    return missingOrCorrupt(dir, manifestPath, err)
  }
  const manifest = parseManifest(text, key)
  if (typeof manifest === 'string') return { kind: 'corrupt', dir, file: manifestPath, problem: `the manifest ${manifest}` }
  if ('stale' in manifest) return { kind: 'stale', dir, format: manifest.stale }

  const total = manifest.blobs.reduce((n, b) => n + b.size, 0)
  const reads = total <= SYNC_READ_LIMIT
    ? await Promise.all(manifest.blobs.map((blob) => readBlobSync(dir, blob)))
    : await Promise.all(manifest.blobs.map((blob) => readBlob(dir, blob)))
  const blobs: Record<string, Uint8Array> = {}
  for (let i = 0; i < reads.length; i++) {
    const read = reads[i]!
    if (!read.ok) return read.problem
    blobs[manifest.blobs[i]!.name] = read.bytes
  }
  return { kind: 'hit', dir, blobs, lastUsed }
}

async function readBlob(dir: string, blob: ManifestBlob): Promise<BlobRead> {
  const file = path.join(dir, blob.name)
  let handle: fs.promises.FileHandle | undefined
  let bytes: Buffer
  try {
    handle = await fs.promises.open(file, 'r')
    // size first: a blob grown by garbage should not be read whole just to be rejected
    const { size } = await handle.stat()
    if (size !== blob.size) return { ok: false, problem: { kind: 'corrupt', dir, file, problem: `is ${size} bytes, the manifest says ${blob.size}` } }
    bytes = await readAll(handle, size)
  } catch (err) {
    return { ok: false, problem: await missingOrCorrupt(dir, file, err) }
  } finally {
    await handle?.close().catch(() => undefined)
  }
  return checkBlob(dir, file, blob, bytes)
}

async function readBlobSync(dir: string, blob: ManifestBlob): Promise<BlobRead> {
  const file = path.join(dir, blob.name)
  let read: { stat: fs.Stats; bytes: Buffer | null }
  try {
    // size first: a blob grown by garbage should not be read whole just to be rejected
    read = readFileSyncWithStat(file, (size) => size === blob.size)
  } catch (err) {
    return { ok: false, problem: await missingOrCorrupt(dir, file, err) }
  }
  if (!read.bytes) return { ok: false, problem: { kind: 'corrupt', dir, file, problem: `is ${read.stat.size} bytes, the manifest says ${blob.size}` } }
  return checkBlob(dir, file, blob, read.bytes)
}

function checkBlob(dir: string, file: string, blob: ManifestBlob, bytes: Buffer): BlobRead {
  if (bytes.byteLength !== blob.size) return { ok: false, problem: { kind: 'corrupt', dir, file, problem: `is ${bytes.byteLength} bytes, the manifest says ${blob.size}` } }
  if (blobChecksum(bytes) !== blob.crc32) return { ok: false, problem: { kind: 'corrupt', dir, file, problem: 'does not match the crc32 in the manifest' } }
  return { ok: true, bytes }
}

/**
 * A file that cannot be read is a plain miss when the whole entry is gone (never written, or
 * pruned by another process while we read), and corruption when the entry is there without it.
 */
async function missingOrCorrupt(dir: string, file: string, err: unknown): Promise<EntryRead> {
  if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') {
    const stat = await fs.promises.stat(dir).catch(() => null)
    if (!stat) return { kind: 'absent', dir }
    if (!stat.isDirectory()) return { kind: 'corrupt', dir, file: dir, problem: 'is a file, not an entry folder' }
    return { kind: 'corrupt', dir, file, problem: 'is missing' }
  }
  return { kind: 'corrupt', dir, file, problem: `cannot be read: ${reason(err)}` }
}

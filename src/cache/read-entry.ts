import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { errorCode, reason } from './cache-error.js'
import { entryDir, MANIFEST } from './layout.js'
import { parseManifest } from './manifest.js'
import type { Blobs } from './types.js'

export type EntryRead =
  | { kind: 'hit'; dir: string; blobs: Blobs }
  | { kind: 'absent'; dir: string }
  /** `file` is the path the problem was found at, `problem` says what is wrong with it. */
  | { kind: 'corrupt'; dir: string; file: string; problem: string }

/**
 * Read an entry and check it against its manifest: every listed blob must exist with the listed
 * size and sha256. Each blob is read once and hashed from memory; the caller needs the bytes
 * anyway. Files not in the manifest are ignored.
 */
export async function readEntry(cacheDir: string, key: string): Promise<EntryRead> {
  const dir = entryDir(cacheDir, key)
  const manifestPath = path.join(dir, MANIFEST)
  let text: string
  try {
    text = await fs.promises.readFile(manifestPath, 'utf8')
  } catch (err) {
    return missingOrCorrupt(dir, manifestPath, err)
  }
  const manifest = parseManifest(text, key)
  if (typeof manifest === 'string') return { kind: 'corrupt', dir, file: manifestPath, problem: `the manifest ${manifest}` }

  const blobs: Record<string, Uint8Array> = {}
  for (const blob of manifest.blobs) {
    const file = path.join(dir, blob.name)
    let bytes: Buffer
    try {
      // size first: a blob grown by garbage should not be read whole just to be rejected
      const { size } = await fs.promises.stat(file)
      if (size !== blob.size) return { kind: 'corrupt', dir, file, problem: `is ${size} bytes, the manifest says ${blob.size}` }
      bytes = await fs.promises.readFile(file)
    } catch (err) {
      return missingOrCorrupt(dir, file, err)
    }
    if (bytes.byteLength !== blob.size) return { kind: 'corrupt', dir, file, problem: `is ${bytes.byteLength} bytes, the manifest says ${blob.size}` }
    if (createHash('sha256').update(bytes).digest('hex') !== blob.sha256) {
      return { kind: 'corrupt', dir, file, problem: 'does not match the sha256 in the manifest' }
    }
    blobs[blob.name] = bytes
  }
  return { kind: 'hit', dir, blobs }
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

import zlib from 'node:zlib'
import { blobNameProblem } from './layout.js'

/**
 * Entries are checked with size + CRC-32, not sha256: the check guards against truncation and
 * disk or copy damage, not against an attacker (who could rewrite the manifest too), and CRC-32
 * costs about a third of sha256 on a hit. Format 1 entries (sha256) are stale: read as misses.
 */
export const MANIFEST_FORMAT = 2

export interface ManifestBlob {
  name: string
  size: number
  /** CRC-32 (as zlib computes it) of the blob's bytes, unsigned. */
  crc32: number
}

/** What an entry holds. No timestamps: writers of one key produce the same manifest. */
export interface Manifest {
  format: typeof MANIFEST_FORMAT
  key: string
  blobs: ManifestBlob[]
}

export function blobChecksum(bytes: Uint8Array): number {
  return zlib.crc32(bytes)
}

export function manifestText(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`
}

/** A manifest of an older format: the entry is sound but this version cannot check it. */
export interface StaleManifest {
  stale: number
}

/** The manifest in `text`, the format of a stale one, or the reason it is not one for `key`. */
export function parseManifest(text: string, key: string): Manifest | StaleManifest | string {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return 'is not JSON'
  }
  if (isRecord(value) && typeof value.format === 'number' && Number.isSafeInteger(value.format) && value.format >= 1 && value.format < MANIFEST_FORMAT) {
    return { stale: value.format }
  }
  if (!isRecord(value) || value.format !== MANIFEST_FORMAT) return `is not a cache manifest of format ${MANIFEST_FORMAT}`
  if (value.key !== key) return `is for key ${String(value.key)}, not ${key}`
  if (!Array.isArray(value.blobs)) return 'has no blob list'
  const blobs: ManifestBlob[] = []
  const seen = new Set<string>()
  for (const b of value.blobs as unknown[]) {
    if (!isRecord(b) || typeof b.name !== 'string' || typeof b.size !== 'number' || typeof b.crc32 !== 'number') {
      return 'has a blob without name, size and crc32'
    }
    const problem = blobNameProblem(b.name)
    if (problem) return `names a blob '${b.name}' that ${problem}`
    if (seen.has(b.name)) return `lists blob '${b.name}' twice`
    if (!Number.isSafeInteger(b.size) || b.size < 0) return `gives blob '${b.name}' the size ${b.size}`
    if (!Number.isInteger(b.crc32) || b.crc32 < 0 || b.crc32 > 0xffffffff) return `gives blob '${b.name}' a malformed crc32`
    seen.add(b.name)
    blobs.push({ name: b.name, size: b.size, crc32: b.crc32 })
  }
  return { format: MANIFEST_FORMAT, key, blobs }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { CacheError, reason } from './cache-error.js'
import { readFileSyncWithStat, SYNC_READ_LIMIT } from './read-whole.js'

export interface Digest {
  size: number
  sha256: string
}

// Larger files are read in steps of this size into one reused buffer: a few round trips through
// the thread pool instead of a stream's one per 64 KiB, and no model-sized allocation (which,
// for a 10 MiB model, costs as much again in page faults and garbage collection).
const STEP = 2 ** 20

export function digestBytes(bytes: Uint8Array): Digest {
  return { size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') }
}

/**
 * sha256 and size of a file: read whole and synchronously up to SYNC_READ_LIMIT, else in 1 MiB
 * steps, so memory stays bounded for a model of any size.
 */
export async function digestFile(file: string): Promise<Digest> {
  const hash = createHash('sha256')
  let size = 0
  let handle: fs.promises.FileHandle | undefined
  try {
    const small = readFileSyncWithStat(file, (n) => n <= SYNC_READ_LIMIT).bytes
    if (small) return { size: small.byteLength, sha256: hash.update(small).digest('hex') }
    handle = await fs.promises.open(file, 'r')
    const buffer = Buffer.allocUnsafe(STEP)
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, STEP, size)
      if (bytesRead === 0) break
      hash.update(buffer.subarray(0, bytesRead))
      size += bytesRead
    }
  } catch (err) {
    throw new CacheError(file, `cannot read it to compute the cache key: ${reason(err)}`, { cause: err })
  } finally {
    await handle?.close().catch(() => undefined)
  }
  return { size, sha256: hash.digest('hex') }
}

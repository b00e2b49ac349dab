import { createHash } from 'node:crypto'
import fs from 'node:fs'
import { CacheError, reason } from './cache-error.js'

export interface Digest {
  size: number
  sha256: string
}

export function digestBytes(bytes: Uint8Array): Digest {
  return { size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') }
}

/** sha256 and size of a file read in chunks, so a model of any size costs a few KiB of memory. */
export async function digestFile(file: string): Promise<Digest> {
  const hash = createHash('sha256')
  let size = 0
  try {
    for await (const chunk of fs.createReadStream(file)) {
      const bytes = chunk as Buffer
      hash.update(bytes)
      size += bytes.byteLength
    }
  } catch (err) {
    throw new CacheError(file, `cannot read it to compute the cache key: ${reason(err)}`, { cause: err })
  }
  return { size, sha256: hash.digest('hex') }
}

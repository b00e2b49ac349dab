import fs from 'node:fs'
import { digestFile, type Digest } from './hash.js'

/**
 * A file's content is taken as unchanged while all of these are: a write moves ctime (which no
 * tool can set back, unlike mtime), a save by rename changes the inode, a truncation the size.
 */
type Identity = Pick<fs.BigIntStats, 'dev' | 'ino' | 'size' | 'mtimeNs' | 'ctimeNs'>

// Coarser than the timestamps of any common filesystem (FAT's mtime ticks in 2 s): a file last
// changed more recently than this may change again within the same tick and keep its times.
const RACY_NS = 3_000_000_000n

export interface DigestMemoOptions {
  /** The clock, in ns since the epoch (tests move it). @default Date.now in ns */
  now?: () => bigint
  /** @default digestFile */
  digest?: (file: string) => Promise<Digest>
}

/**
 * digestFile with a memo: a file whose identity (dev, inode, size, mtime, ctime) is what it was
 * when it was hashed is not read again. A watch session rebuilds with most inputs unchanged
 * (a copied model, its calibration folder): each build then costs a stat per file, not a read
 * and a sha256 of every byte.
 *
 * Stale digests: a content change that keeps all five needs ctime to stay put across a write,
 * which happens only within one tick of a coarse filesystem clock; a file that changed less
 * than RACY_NS before it was hashed is therefore not memoized (git's "racily clean" rule), and
 * neither is one that changed while it was read. What is left (a clock set back, a filesystem
 * that does not keep ctime) lasts as long as the process that holds the memo.
 */
export class DigestMemo {
  private readonly known = new Map<string, { identity: Identity; digest: Digest }>()
  private readonly now: () => bigint
  private readonly hash: (file: string) => Promise<Digest>

  constructor(options: DigestMemoOptions = {}) {
    this.now = options.now ?? (() => BigInt(Date.now()) * 1_000_000n)
    this.hash = options.digest ?? digestFile
  }

  async digest(file: string): Promise<Digest> {
    const before = identity(file)
    const known = this.known.get(file)
    if (before && known && same(known.identity, before)) return known.digest
    this.known.delete(file)
    const digest = await this.hash(file)
    const after = identity(file)
    if (before && after && same(before, after) && this.now() - lastChange(after) > RACY_NS) this.known.set(file, { identity: after, digest })
    return digest
  }
}

const lastChange = (s: Identity): bigint => (s.mtimeNs > s.ctimeNs ? s.mtimeNs : s.ctimeNs)

function identity(file: string): Identity | null {
  try {
    const s = fs.statSync(file, { bigint: true })
    return { dev: s.dev, ino: s.ino, size: s.size, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs }
  } catch {
    // the hash reports the error with the file's name
    return null
  }
}

const same = (a: Identity, b: Identity): boolean => a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs

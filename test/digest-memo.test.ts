// DigestMemo: a file hashed once is not read again while its identity (inode, size, mtime,
// ctime) stays, and an edit that keeps its size and puts its mtime back is still seen.
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DigestMemo, digestFile, type Digest } from '../src/cache/index.js'
import { makeTmpDir } from './helpers/run-cli.js'

let tmp: string
beforeAll(() => {
  tmp = makeTmpDir('digest-memo')
})
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true })
})

/** A memo whose clock runs `ahead` ns past the real one, and how many files it read. */
function memo(ahead: bigint): { memo: DigestMemo; reads: () => number } {
  let reads = 0
  const digest = (file: string): Promise<Digest> => {
    reads++
    return digestFile(file)
  }
  return { memo: new DigestMemo({ now: () => BigInt(Date.now()) * 1_000_000n + ahead, digest }), reads: () => reads }
}

// past the memo's racy window: the file reads as last changed long ago
const LATER = 60_000_000_000n
// into another tick of the kernel's coarse file clock, so that a write moves ctime
const nextTick = () => new Promise((r) => setTimeout(r, 50))
// an mtime that utimes can put back to the nanosecond
const MTIME = new Date('2020-01-01T00:00:00Z')

/** `file` with `content` and the mtime MTIME, however often it is written. */
function writeAtMtime(file: string, content: string): void {
  fs.writeFileSync(file, content)
  fs.utimesSync(file, MTIME, MTIME)
}

describe('DigestMemo', () => {
  it('reads an unchanged file once', async () => {
    const file = path.join(tmp, 'same.bin')
    fs.writeFileSync(file, 'abc')
    const { memo: m, reads } = memo(LATER)
    const first = await m.digest(file)
    expect(await m.digest(file)).toEqual(first)
    expect(reads()).toBe(1)
  })

  it('sees an edit that keeps the size and puts the mtime back', async () => {
    const file = path.join(tmp, 'edited.bin')
    writeAtMtime(file, 'abc')
    const { memo: m } = memo(LATER)
    const before = await m.digest(file)
    await nextTick()
    writeAtMtime(file, 'abd')
    expect(fs.statSync(file, { bigint: true }).mtimeNs).toBe(BigInt(MTIME.getTime()) * 1_000_000n)
    const after = await m.digest(file)
    expect(after).toEqual(await digestFile(file))
    expect(after.sha256).not.toBe(before.sha256)
  })

  it('sees a file replaced by another of the same size and times (a save by rename)', async () => {
    const file = path.join(tmp, 'renamed.bin')
    writeAtMtime(file, 'abc')
    const { memo: m } = memo(LATER)
    await m.digest(file)
    writeAtMtime(`${file}.new`, 'xyz')
    fs.renameSync(`${file}.new`, file)
    expect((await m.digest(file)).sha256).toBe((await digestFile(file)).sha256)
  })

  it('does not keep the digest of a file that changed while it was read', async () => {
    const file = path.join(tmp, 'moving.bin')
    writeAtMtime(file, 'abc')
    await nextTick()
    let reads = 0
    // the edit lands while the hash is read: what was hashed is neither the old file nor the new
    const m = new DigestMemo({
      now: () => BigInt(Date.now()) * 1_000_000n + LATER,
      digest: async (f) => {
        reads++
        const d = await digestFile(f)
        if (reads === 1) writeAtMtime(f, 'abcd')
        return d
      },
    })
    await m.digest(file)
    expect((await m.digest(file)).sha256).toBe((await digestFile(file)).sha256)
    expect(reads).toBe(2)
  })

  it('does not keep the digest of a file changed just before it was read (it may change again within the same tick)', async () => {
    const file = path.join(tmp, 'racy.bin')
    fs.writeFileSync(file, 'abc')
    const { memo: m, reads } = memo(0n)
    await m.digest(file)
    await m.digest(file)
    expect(reads()).toBe(2)
  })
})

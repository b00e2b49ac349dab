import fs from 'node:fs'
import path from 'node:path'
import { errnoError, fsReason as sharedReason } from './fs-reason.js'

/** Write and fsync, so that a crash right after the rename cannot leave an empty file in place. */
function writeDurably(file: string, bytes: Uint8Array | string): void {
  const fd = fs.openSync(file, 'w')
  try {
    fs.writeFileSync(fd, bytes)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Write files so that each either appears complete or not at all: every file goes to a temp name
 * in its target folder first (same file system, so rename is atomic), and only when all are
 * written are they renamed into place. On failure the temps are removed and a WriteError names
 * the file that failed.
 */
export function writeFilesAtomic(files: { path: string; bytes: Uint8Array | string }[]): void {
  const temps: { tmp: string; dest: string }[] = []
  let current = ''
  try {
    for (const f of files) {
      current = f.path
      const dest = path.resolve(f.path)
      const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`)
      temps.push({ tmp, dest })
      writeDurably(tmp, f.bytes)
    }
    // a folder in the way is the one thing that makes a rename fail here; find it before the
    // first rename, so that no file is in place when another cannot be
    for (const [i, { dest }] of temps.entries()) {
      current = files[i]!.path
      if (fs.statSync(dest, { throwIfNoEntry: false })?.isDirectory()) {
        throw errnoError('EISDIR', `EISDIR: illegal operation on a directory, rename to '${dest}'`)
      }
    }
    for (const [i, { tmp, dest }] of temps.entries()) {
      current = files[i]!.path
      fs.renameSync(tmp, dest)
    }
  } catch (err) {
    for (const { tmp } of temps) {
      try {
        fs.rmSync(tmp, { force: true })
      } catch {
        // `force` ignores only ENOENT: a temp under a file (ENOTDIR) was never created either
      }
    }
    throw new WriteError(current, err as NodeJS.ErrnoException)
  }
}

/** Why a file system call failed, in words: "a parent of it is a file, not a folder (ENOTDIR)". */
export function fsReason(err: NodeJS.ErrnoException): string {
  return sharedReason(err, 'its folder does not exist')
}

/** A file that could not be written; `file` is the path as given, `reason` says why. */
export class WriteError extends Error {
  override name = 'WriteError'
  readonly file: string
  readonly reason: string
  constructor(file: string, cause: NodeJS.ErrnoException) {
    const reason = fsReason(cause)
    super(`${file}: cannot write: ${reason}`, { cause })
    this.file = file
    this.reason = reason
  }
}

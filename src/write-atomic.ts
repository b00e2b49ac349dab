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
 *
 * A target that exists and is no regular file (a device such as /dev/null, a FIFO, a socket) is
 * written into, as the shell's `>` does: renaming over it would replace the device or pipe with
 * a file. Those writes come after every temp is written and before any rename, so a failing one
 * (/dev/full) still leaves no file in place. A regular file that is replaced keeps its
 * permissions; hard links to it keep the old bytes, as with any atomic replace.
 */
export function writeFilesAtomic(files: { path: string; bytes: Uint8Array | string }[]): void {
  const temps: { tmp: string; dest: string; index: number }[] = []
  const into: { dest: string; index: number; fd: number | null }[] = []
  let current = ''
  try {
    for (const [index, f] of files.entries()) {
      current = f.path
      const dest = path.resolve(f.path)
      const existing = fs.statSync(dest, { throwIfNoEntry: false })
      if (existing && !existing.isFile() && !existing.isDirectory()) {
        // A FIFO nobody reads would block the write in open(), where no signal handler can run:
        // a non-blocking open finds that out now (ENXIO), before any temp file exists. It stays
        // open until the blocking one is, since the last writer's close is its reader's end.
        let probe: number | null = null
        if (existing.isFIFO()) probe = fs.openSync(dest, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
        try {
          into.push({ dest, index, fd: fs.openSync(dest, 'w') })
        } finally {
          if (probe !== null) fs.closeSync(probe)
        }
        continue
      }
      const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`)
      temps.push({ tmp, dest, index })
      writeDurably(tmp, f.bytes)
      if (existing?.isFile()) fs.chmodSync(tmp, existing.mode & 0o7777)
    }
    // a folder in the way is the one thing that makes a rename fail here; find it before the
    // first rename, so that no file is in place when another cannot be
    for (const { dest, index } of temps) {
      current = files[index]!.path
      if (fs.statSync(dest, { throwIfNoEntry: false })?.isDirectory()) {
        throw errnoError('EISDIR', `EISDIR: illegal operation on a directory, rename to '${dest}'`)
      }
    }
    for (const entry of into) {
      current = files[entry.index]!.path
      const fd = entry.fd!
      entry.fd = null
      try {
        fs.writeFileSync(fd, files[entry.index]!.bytes)
      } finally {
        fs.closeSync(fd)
      }
    }
    for (const { tmp, dest, index } of temps) {
      current = files[index]!.path
      fs.renameSync(tmp, dest)
    }
  } catch (err) {
    for (const { fd } of into) if (fd !== null) fs.closeSync(fd)
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

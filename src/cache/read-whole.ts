import fs from 'node:fs'

/**
 * Files up to this size are read synchronously. Each async step (open, fstat, read, close) is a
 * round trip through libuv's thread pool, about 50 µs on a busy machine, which is most of a hit's
 * cost on a model under a megabyte; a synchronous read of a few MiB from the page cache blocks
 * the event loop for about a millisecond, less than those round trips add up to.
 */
export const SYNC_READ_LIMIT = 4 * 2 ** 20

/**
 * Reads `size` bytes from the start of an open file with as few read calls as the kernel allows
 * (one, for regular files): `fs.readFile` reads in 512 KiB steps and a read stream in 64 KiB
 * ones, each a round trip through the thread pool. Returns fewer bytes when the file is shorter.
 */
export async function readAll(handle: fs.promises.FileHandle, size: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(size)
  let filled = 0
  while (filled < size) {
    const { bytesRead } = await handle.read(buffer, filled, size - filled, filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  return filled === size ? buffer : buffer.subarray(0, filled)
}

/** `readAll` on a file descriptor, synchronously (see `SYNC_READ_LIMIT`). */
export function readAllSync(fd: number, size: number): Buffer {
  const buffer = Buffer.allocUnsafe(size)
  let filled = 0
  while (filled < size) {
    const bytesRead = fs.readSync(fd, buffer, filled, size - filled, filled)
    if (bytesRead === 0) break
    filled += bytesRead
  }
  return filled === size ? buffer : buffer.subarray(0, filled)
}

/**
 * The file's size and mtime from the open descriptor and, when `wanted(size)`, its bytes: one
 * open for both, so a file replaced between a stat and a read cannot mix two versions.
 */
export function readFileSyncWithStat(file: string, wanted: (size: number) => boolean): { stat: fs.Stats; bytes: Buffer | null } {
  const fd = fs.openSync(file, 'r')
  try {
    const stat = fs.fstatSync(fd)
    return { stat, bytes: wanted(stat.size) ? readAllSync(fd, stat.size) : null }
  } finally {
    fs.closeSync(fd)
  }
}

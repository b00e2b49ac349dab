import fs from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { makeDirs } from '../make-dirs.js'
import { CacheError, errorCode, reason } from './cache-error.js'
import { sideName } from './layout.js'

// `fs.promises.x(...)` rather than named imports throughout this folder: a test stands in for
// `rename` to kill its process between writing and renaming, which needs the call to go through
// the shared object.

export interface DirFile {
  name: string
  bytes: Uint8Array | string
}

/**
 * Make `dir` appear complete or not at all: the files go, in the order given, into a temp folder
 * beside it (same file system, so the final rename is atomic), each fsynced, and then the folder
 * is renamed to `dir`. A process killed before the rename leaves only the temp folder.
 *
 * When `dir` already exists another writer won the race; ours is discarded and the result is
 * `existed`. Entries are never empty, so an existing `dir` refuses the rename (ENOTEMPTY/EEXIST
 * on POSIX, EPERM on Windows) and is never half replaced.
 */
export async function writeDirAtomic(dir: string, files: readonly DirFile[]): Promise<'written' | 'existed'> {
  const parent = path.dirname(dir)
  const tmp = sideName(dir, 'tmp')
  try {
    await makeDirs(parent)
    await fs.promises.mkdir(tmp)
  } catch (err) {
    throw new CacheError(tmp, `cannot create a cache folder: ${reason(err)}`, { cause: err })
  }
  try {
    for (const file of files) await writeDurable(path.join(tmp, file.name), file.bytes)
    await syncDir(tmp)
  } catch (err) {
    await removeQuietly(tmp)
    throw err
  }
  try {
    await fs.promises.rename(tmp, dir)
  } catch (err) {
    await removeQuietly(tmp)
    const code = errorCode(err)
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return 'existed'
    if ((code === 'EPERM' || code === 'EACCES') && (await isDir(dir))) return 'existed'
    throw new CacheError(dir, `cannot move the written entry into place: ${reason(err)}`, { cause: err })
  }
  // the rename itself lives in the parent folder's data; without this a crash could undo it
  await syncDir(parent)
  return 'written'
}

/**
 * Remove `dir` so that nobody sees it half removed: rename it aside first (atomic), then delete
 * the renamed copy. False when it was already gone (another process removed it first).
 */
export async function removeDir(dir: string): Promise<boolean> {
  const trash = sideName(dir, 'del')
  try {
    await fs.promises.rename(dir, trash)
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false
    throw new CacheError(dir, `cannot remove the cache entry: ${reason(err)}`, { cause: err })
  }
  // a leftover trash folder is harmless: prune deletes it later
  await removeQuietly(trash)
  return true
}

async function writeDurable(file: string, bytes: Uint8Array | string): Promise<void> {
  let handle: FileHandle | undefined
  try {
    handle = await fs.promises.open(file, 'wx')
    await handle.writeFile(bytes)
    // fsync before the rename publishes the entry, or a power loss could publish empty files
    await handle.sync()
  } catch (err) {
    throw new CacheError(file, `cannot write the cache file: ${reason(err)}`, { cause: err })
  } finally {
    await handle?.close()
  }
}

async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined
  try {
    handle = await fs.promises.open(dir, 'r')
    await handle.sync()
  } catch {
    // Windows cannot open folders and some file systems refuse fsync on them (EINVAL); the data
    // files are synced already, so this only narrows a crash window and is not worth failing for
  } finally {
    await handle?.close().catch(() => undefined)
  }
}

export async function removeQuietly(target: string): Promise<void> {
  try {
    await fs.promises.rm(target, { recursive: true, force: true, maxRetries: 2 })
  } catch {
    // best effort: whatever is left is a temp folder, which prune removes
  }
}

async function isDir(target: string): Promise<boolean> {
  try {
    return (await fs.promises.stat(target)).isDirectory()
  } catch {
    return false
  }
}

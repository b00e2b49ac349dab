import fs from 'node:fs'
import path from 'node:path'

/*
 * `mkdir -p` without Node's `{ recursive: true }`. On a file system that answers ENOENT to a
 * mkdir whose parent exists (/proc, /sys), Node 20's recursive mkdir retries the parent and the
 * child forever: `--report-dir /proc/x` spun at 100% CPU, and the sync form blocked the thread
 * that would have handled Ctrl-C. Here each missing folder is made once, outermost first.
 */

/** An error for a folder whose existing parent refuses new folders with ENOENT. */
function refusedIn(folder: string, err: NodeJS.ErrnoException): NodeJS.ErrnoException {
  if (err.code !== 'ENOENT' || !fs.existsSync(path.dirname(folder))) return err
  // fsReason shows the message of an error with no code
  return Object.assign(new Error(`its parent '${path.dirname(folder)}' exists but its file system does not allow new folders in it (ENOENT)`), { cause: err })
}

const isFolder = (p: string): boolean => {
  try {
    return fs.statSync(p).isDirectory()
  } catch {
    return false
  }
}

/**
 * Makes `dir` and its missing parents; returns the first folder it made, as an absolute path
 * (recursive mkdir returns it as `dir` was written), or undefined when `dir` already existed.
 */
export function makeDirsSync(dir: string): string | undefined {
  const missing: string[] = []
  let existing: fs.Stats | null = null
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    try {
      existing = fs.statSync(at)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    missing.unshift(at)
    if (path.dirname(at) === at) break
  }
  for (const folder of missing) {
    try {
      fs.mkdirSync(folder)
    } catch (err) {
      // made meanwhile by someone else: fine, as with recursive mkdir
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && isFolder(folder)) continue
      throw refusedIn(folder, err as NodeJS.ErrnoException)
    }
  }
  // an existing non-folder at `dir` fails as recursive mkdir does
  if (missing.length === 0 && !existing?.isDirectory()) fs.mkdirSync(dir)
  return missing[0]
}

/**
 * makeDirsSync for async callers: a few stats and mkdirs cost less than a trip through the thread
 * pool each, and one implementation keeps the /proc rule in one place.
 */
export async function makeDirs(dir: string): Promise<string | undefined> {
  return makeDirsSync(dir)
}

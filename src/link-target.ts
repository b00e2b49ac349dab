import fs from 'node:fs'
import path from 'node:path'
import { errnoError } from './fs-reason.js'

/**
 * The file a path's symbolic links lead to, existing or not, as the kernel follows them: each
 * link's text against the real folder the link sits in (a `..` in it climbs from there, not from
 * the path as written). The CLI writes its output there, as `cp` and the shell's `>` do, where a
 * rename onto the link would replace the link and leave its target stale. Throws ELOOP for a loop.
 */
export function linkTarget(file: string): string {
  let current = path.resolve(file)
  // the kernel's own limit on a chain of links
  for (let hops = 0; hops < 40; hops++) {
    const st = fs.lstatSync(current, { throwIfNoEntry: false })
    if (!st?.isSymbolicLink()) return current
    current = path.resolve(realFolder(path.dirname(current)), fs.readlinkSync(current))
  }
  throw errnoError('ELOOP', `ELOOP: too many symbolic links, '${file}'`)
}

/** The folder with its own links resolved; as written when it does not exist (the output checks say so). */
function realFolder(dir: string): string {
  try {
    return fs.realpathSync(dir)
  } catch {
    return dir
  }
}

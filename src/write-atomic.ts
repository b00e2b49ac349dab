import fs from 'node:fs'
import path from 'node:path'

/**
 * Write files so that each either appears complete or not at all: every file goes to a temp name
 * in its target folder first (same file system, so rename is atomic), and only when all are
 * written are they renamed into place. On failure the temps are removed.
 */
export function writeFilesAtomic(files: { path: string; bytes: Uint8Array | string }[]): void {
  const temps: { tmp: string; dest: string }[] = []
  try {
    for (const f of files) {
      const dest = path.resolve(f.path)
      const tmp = path.join(path.dirname(dest), `.${path.basename(dest)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`)
      temps.push({ tmp, dest })
      fs.writeFileSync(tmp, f.bytes)
    }
    for (const { tmp, dest } of temps) fs.renameSync(tmp, dest)
  } catch (err) {
    for (const { tmp } of temps) fs.rmSync(tmp, { force: true })
    throw err
  }
}

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

// Temp folders alive right now, so that a process stopped by a signal (which skips `finally`
// blocks) can still remove them: verification lays a model with external data out on disk, a
// full copy of its weights.
const live = new Set<string>()

/** A new folder under the OS temp folder; remove it with removeTempDir. */
export function makeTempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  live.add(dir)
  return dir
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true })
  live.delete(dir)
}

/** Removes every folder makeTempDir made and nothing has removed yet (best effort). */
export function removeLiveTempDirs(): void {
  for (const dir of live) {
    try {
      removeTempDir(dir)
    } catch {
      // a process on its way out: what cannot go now stays for the OS's temp cleaning
    }
  }
}

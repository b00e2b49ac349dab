import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/**
 * Rolldown's watcher (`vite build --watch` from Vite 8 on, and the rollup plugin when Rolldown
 * runs it) drops an `addWatchFile` of a path that does not exist: a cfg created beside a model
 * that had none, or a calibration folder created after its cfg named it, rebuilt nothing until
 * some other edit did. So such paths are watched here, through their folders, and when one
 * appears a file of this class's own, which the bundler does watch, is rewritten: the rebuild
 * follows as for any edit. Folders are watched one level deep only, so outputs and caches
 * written below them (a model in the project root, dist/ beside it) do not count.
 */
export class AppearingPaths {
  private readonly signal: string
  private readonly paths = new Set<string>()
  private readonly folders = new Map<string, fs.FSWatcher>()

  constructor() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unplugin-quantize-watch-'))
    this.signal = path.join(dir, 'appeared')
    fs.writeFileSync(this.signal, '')
  }

  /** The file to give the bundler's `addWatchFile`: it changes when a watched path appears. */
  get file(): string {
    return this.signal
  }

  /** Forget the paths of the last build; the next one lists those still missing. */
  reset(): void {
    this.paths.clear()
  }

  /** Rebuild when one of `missing` comes into existence. */
  watch(missing: readonly string[]): void {
    for (const file of missing) {
      this.paths.add(path.resolve(file))
      const folder = path.dirname(path.resolve(file))
      if (this.folders.has(folder)) continue
      let watcher: fs.FSWatcher
      try {
        // not persistent: the bundler's own watcher decides how long the process lives
        watcher = fs.watch(folder, { persistent: false }, (_event, name) => {
          if (name) this.seen(path.join(folder, name.toString()))
        })
      } catch {
        // the folder is missing too: nothing can appear in it (the engine's error names the path)
        continue
      }
      // the folder was removed meanwhile: it stops being watched, as it would for the bundler
      watcher.on('error', () => this.folders.delete(folder))
      this.folders.set(folder, watcher)
    }
  }

  close(): void {
    for (const watcher of this.folders.values()) watcher.close()
    this.folders.clear()
    this.paths.clear()
    fs.rmSync(path.dirname(this.signal), { recursive: true, force: true })
  }

  private seen(file: string): void {
    if (!this.paths.has(file) || !fs.existsSync(file)) return
    // once: the rebuild lists the path again if it is missing again
    this.paths.delete(file)
    fs.writeFileSync(this.signal, String(Date.now()))
  }
}

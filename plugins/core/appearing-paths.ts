import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { isInside } from './watch-inputs.js'

/**
 * Rolldown's watcher (`vite build --watch` from Vite 8 on, and the rollup plugin when Rolldown
 * runs it) drops an `addWatchFile` of a path that does not exist: a cfg created beside a model
 * that had none, or a calibration folder created after its cfg named it, rebuilt nothing until
 * some other edit did. So such paths are watched here, through the nearest folder of theirs that
 * exists, and when one appears a file of this class's own, which the bundler does watch, is
 * rewritten: the rebuild follows as for any edit. A path whose parent folder is missing too
 * (`data/calib` with no `data/`) is watched from its nearest existing ancestor, one level deeper
 * each time the next folder on its way appears. Folders are watched one level deep only, and
 * only the names on a watched path's way count, so outputs and caches written below them (a
 * model in the project root, dist/ beside it) do not.
 */
export class AppearingPaths {
  private readonly signal: string
  private readonly paths = new Set<string>()
  private readonly folders = new Map<string, fs.FSWatcher>()
  // `vite build --watch` ended by Ctrl-C never calls closeWatcher: the signal folder goes on exit
  private readonly removeSignal = (): void => fs.rmSync(path.dirname(this.signal), { recursive: true, force: true })

  constructor() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'unplugin-quantize-watch-'))
    this.signal = path.join(dir, 'appeared')
    fs.writeFileSync(this.signal, '')
    process.on('exit', this.removeSignal)
  }

  /** The file to give the bundler's `addWatchFile`: it changes when a watched path appears. */
  get file(): string {
    return this.signal
  }

  /** Forget the paths of the last build; the next one lists those still missing. */
  reset(): void {
    this.paths.clear()
  }

  /**
   * Stop watching the folders no watched path lies in any more (its path appeared, or the build
   * since `reset` did not list it): call once a build has listed its paths. A folder on the way
   * of a path still missing stays watched, above the deepest one too: an event there may still
   * be on its way.
   */
  prune(): void {
    for (const folder of [...this.folders.keys()]) {
      if (![...this.paths].some((file) => file !== folder && isInside(file, folder))) this.unwatch(folder)
    }
  }

  /** The folders watched now. */
  watching(): string[] {
    return [...this.folders.keys()].sort()
  }

  /** Rebuild when one of `missing` comes into existence. */
  watch(missing: readonly string[]): void {
    for (const file of missing) {
      const resolved = path.resolve(file)
      this.paths.add(resolved)
      this.place(resolved, false)
    }
  }

  close(): void {
    for (const watcher of this.folders.values()) watcher.close()
    this.folders.clear()
    this.paths.clear()
    process.off('exit', this.removeSignal)
    this.removeSignal()
  }

  /**
   * Watch the nearest existing ancestor of `file`. `appeared`: an event brought `file` this far,
   * so if the path itself exists by now (created right after its folder) the signal fires.
   */
  private place(file: string, appeared: boolean): void {
    let folder = path.dirname(file)
    while (!fs.existsSync(folder)) {
      const parent = path.dirname(folder)
      if (parent === folder) return
      folder = parent
    }
    if (!this.watchFolder(folder)) return
    // the next component may have appeared before the watcher was set up
    const next = path.join(folder, path.relative(folder, file).split(path.sep)[0]!)
    if (!fs.existsSync(next)) return
    if (next !== file) this.place(file, appeared)
    else if (appeared) this.seen(file)
  }

  private watchFolder(folder: string): boolean {
    if (this.folders.has(folder)) return true
    let watcher: fs.FSWatcher
    try {
      // not persistent: the bundler's own watcher decides how long the process lives
      watcher = fs.watch(folder, { persistent: false }, (_event, name) => {
        if (!fs.existsSync(folder)) {
          // the folder was removed (Linux says 'rename', not 'error'): watch from further up,
          // so that it is seen when it is created again
          this.unwatch(folder)
          for (const file of this.paths) if (file !== folder && isInside(file, folder)) this.place(file, false)
          return
        }
        if (name) this.changed(path.join(folder, name.toString()))
      })
    } catch {
      // removed meanwhile: nothing can appear in it (the engine's error names the path)
      return false
    }
    watcher.on('error', () => this.unwatch(folder))
    this.folders.set(folder, watcher)
    return true
  }

  private unwatch(folder: string): void {
    this.folders.get(folder)?.close()
    this.folders.delete(folder)
  }

  private changed(entry: string): void {
    for (const file of [...this.paths]) {
      if (file === entry) this.seen(file)
      // a folder on the path's way appeared: watch one level deeper
      else if (file !== entry && isInside(file, entry) && fs.existsSync(entry)) this.place(file, true)
    }
  }

  private seen(file: string): void {
    if (!this.paths.has(file) || !fs.existsSync(file)) return
    // once: the rebuild lists the path again if it is missing again
    this.paths.delete(file)
    this.prune()
    fs.writeFileSync(this.signal, String(Date.now()))
  }
}

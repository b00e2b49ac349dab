import path from 'node:path'

// `C:\data`, `C:/data` or `\\server\share`: absolute on Windows even when we run elsewhere.
const WINDOWS_ABSOLUTE = /^(?:[A-Za-z]:[\\/]|\\\\)/

/**
 * Why a folder named in a cfg cannot be used here, or null: a Windows absolute path read on
 * another system would otherwise be taken as a relative name (a folder called `C:\data` under
 * the cfg's folder) and quietly read or written there.
 */
export function foreignPathProblem(dir: string): string | null {
  if (process.platform === 'win32' || !WINDOWS_ABSOLUTE.test(dir)) return null
  return `a Windows path, which this ${process.platform} system cannot open`
}

/** A folder named in a cfg, made absolute against the cfg file's folder (check foreignPathProblem first). */
export function resolveDir(dir: string, baseDir: string): string {
  return path.resolve(baseDir, dir)
}

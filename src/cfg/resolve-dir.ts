import path from 'node:path'

// `C:\data`, `C:/data` or `\\server\share`: absolute on Windows even when we run elsewhere.
const WINDOWS_ABSOLUTE = /^(?:[A-Za-z]:[\\/]|\\\\)/

/**
 * A folder named in a cfg, made absolute against the cfg file's folder. An absolute path
 * stays as written, including a Windows one read on POSIX: prefixing it with the cfg
 * folder would only produce a path that hides the user's mistake.
 */
export function resolveDir(dir: string, baseDir: string): string {
  if (path.isAbsolute(dir)) return path.resolve(dir)
  if (WINDOWS_ABSOLUTE.test(dir)) return dir
  return path.resolve(baseDir, dir)
}

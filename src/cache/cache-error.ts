/** A cache file or folder that could not be read or written; the message starts with its path. */
export class CacheError extends Error {
  override name = 'CacheError'
  readonly path: string
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`${path}: ${message}`, options)
    this.path = path
  }
}

const REASONS: Record<string, string> = {
  ENOENT: 'it does not exist',
  ENOTDIR: 'a parent of it is a file, not a folder',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
}

/** Why a file system call failed, in words, with the code when there is one. */
export function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException
  if (e && typeof e === 'object' && typeof e.code === 'string') return `${REASONS[e.code] ?? e.message} (${e.code})`
  return err instanceof Error ? err.message : String(err)
}

export function errorCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return typeof code === 'string' ? code : undefined
}

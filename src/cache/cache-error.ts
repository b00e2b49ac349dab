import { fsReason } from '../fs-reason.js'

/** A cache file or folder that could not be read or written; the message starts with its path. */
export class CacheError extends Error {
  override name = 'CacheError'
  readonly path: string
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super(`${path}: ${message}`, options)
    this.path = path
  }
}

/** Why a file system call failed, in words, with the code when there is one. */
export function reason(err: unknown): string {
  return fsReason(err)
}

export function errorCode(err: unknown): string | undefined {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return typeof code === 'string' ? code : undefined
}

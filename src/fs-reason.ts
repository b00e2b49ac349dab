const REASONS: Record<string, string> = {
  ENOENT: 'it does not exist',
  ENOTDIR: 'a parent of it is a file, not a folder',
  EISDIR: 'it is a folder',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EEXIST: 'a file of that name is in the way',
  EDQUOT: 'disk quota exceeded',
  ELOOP: 'its symbolic links go round in a loop',
  ENXIO: 'it is a FIFO that no process is reading',
}

/**
 * Why a file system call failed, in words, with the code when there is one: "a parent of it is a
 * file, not a folder (ENOTDIR)". `missing` rewords ENOENT for callers where it means a folder.
 */
export function fsReason(err: unknown, missing?: string): string {
  const e = err as NodeJS.ErrnoException | null
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    const words = e.code === 'ENOENT' && missing ? missing : REASONS[e.code] ?? e.message
    return `${words} (${e.code})`
  }
  return err instanceof Error ? err.message : String(err)
}

/** An error with an errno `code`, as Node's own are, for a failure found before the call that would raise it. */
export function errnoError(code: string, message: string = code): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code })
}

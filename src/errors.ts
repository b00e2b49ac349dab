/**
 * An error the user can act on: it names the file it is about and, when known, the place in it.
 * The CLI prints `message` as its one line; plugins pass it to their bundler's error reporter.
 */
export class QuantizeError extends Error {
  override name = 'QuantizeError'
  constructor(
    readonly file: string,
    message: string,
    readonly code: 'unsupported' | 'input' | 'config' | 'output' | 'runtime' = 'input',
    options?: { cause?: unknown },
  ) {
    super(`${file}: ${message}`, options)
  }
}

export interface CfgErrorDetails {
  file: string
  line?: number | null
  key?: string | null
  value?: string | null
  allowed?: string | null
}

/**
 * A cfg the user has to fix. The fields repeat what the message says so that tools (the
 * CLI, an editor integration) can point at the spot without parsing the message.
 */
export class CfgError extends Error {
  override name = 'CfgError'
  readonly file: string
  readonly line: number | null
  readonly key: string | null
  readonly value: string | null
  readonly allowed: string | null

  constructor(message: string, details: CfgErrorDetails) {
    super(message)
    this.file = details.file
    this.line = details.line ?? null
    this.key = details.key ?? null
    this.value = details.value ?? null
    this.allowed = details.allowed ?? null
  }
}

/** "model.cfg:3: " or, when there is no line (object configs, missing keys), "model.cfg: ". */
export function location(file: string, line: number | null): string {
  return line === null ? `${file}: ` : `${file}:${line}: `
}

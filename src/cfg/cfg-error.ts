import { QuantizeError } from '../errors.js'

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
export class CfgError extends QuantizeError {
  override name = 'CfgError'
  readonly line: number | null
  readonly key: string | null
  readonly value: string | null
  readonly allowed: string | null

  constructor(message: string, details: CfgErrorDetails) {
    super(details.file, message, 'config')
    // the message names its file and line already, in the format's "file:line: " form
    this.message = message
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

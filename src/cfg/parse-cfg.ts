import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { CfgError } from './cfg-error.js'
import { resolveCfg, type ResolveCfgOptions } from './resolve-cfg.js'
import { scanCfg } from './scan-cfg.js'
import type { QuantConfig } from './types.js'

/**
 * Parses and validates a MindSpore Lite quantization cfg. `file` names the cfg in messages
 * and its folder is the base for relative paths; the file itself is not read.
 */
export function parseCfg(text: string, file: string, options: ResolveCfgOptions = {}): QuantConfig {
  return resolveCfg(scanCfg(text, file, path.dirname(path.resolve(file))), options)
}

/** Reads and parses a cfg file. A missing or unreadable file is a CfgError naming it. */
export async function loadCfg(file: string, options: ResolveCfgOptions = {}): Promise<QuantConfig> {
  let bytes: Buffer
  try {
    bytes = await readFile(file)
  } catch (error) {
    const code = error instanceof Error && 'code' in error ? String(error.code) : null
    const reason =
      code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : error instanceof Error ? error.message : String(error)
    throw new CfgError(`${file}: cannot read cfg file: ${reason}`, { file })
  }
  return parseCfg(cfgText(bytes, file), file, options)
}

/** The file as text; binary content (a model passed as the cfg, say) is an error, not a line quoted byte for byte. */
function cfgText(bytes: Buffer, file: string): string {
  // UTF-16 with a byte-order mark: what Windows PowerShell 5's `>` writes
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes)
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes)
  // no INI text holds a NUL byte; other encodings than UTF-8 still parse (their comments garbled)
  const nul = bytes.indexOf(0)
  if (nul >= 0) throw new CfgError(`${file}: not a cfg file: binary data (a NUL byte at ${nul}); a cfg is INI text`, { file })
  return bytes.toString('utf8')
}

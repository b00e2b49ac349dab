import fs from 'node:fs'
import path from 'node:path'
import type { CfgObject } from '../../src/cfg/index.js'

export type ModelConfig =
  /** A cfg file: the sibling of the model, or `defaultConfig` given as a path. */
  | { kind: 'file'; path: string }
  /** `defaultConfig` given as an object; relative paths in it resolve against the project root. */
  | { kind: 'object'; config: CfgObject; baseDir: string }

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile()
  } catch {
    return false
  }
}

/** The sibling cfg files a model may have, most specific first (the CLI's lookup order). */
export function siblingConfigs(model: string): string[] {
  const dir = path.dirname(model)
  const base = path.basename(model)
  return [path.join(dir, `${base}.cfg`), path.join(dir, `${path.basename(base, '.onnx')}.cfg`)]
}

/**
 * `<name>.onnx.cfg`, else `<name>.cfg`, else `defaultConfig`, else null: the model passes
 * through unchanged, so adding the plugin never alters models nobody configured.
 */
export function findConfig(model: string, defaultConfig: string | CfgObject | null, root: string): ModelConfig | null {
  for (const candidate of siblingConfigs(model)) {
    if (isFile(candidate)) return { kind: 'file', path: candidate }
  }
  if (defaultConfig === null) return null
  if (typeof defaultConfig === 'string') return { kind: 'file', path: path.resolve(root, defaultConfig) }
  return { kind: 'object', config: defaultConfig, baseDir: root }
}

import path from 'node:path'
import type { ModelConfig } from './find-config.js'

/**
 * One line naming the model and the cfg, then the engine's message (which names the file and
 * line at fault): the bundler prints it as is, so it must say where to look. `config` null: the
 * model has no cfg at all (it was only to be read and passed through, so naming a cfg would send
 * the reader to the wrong place); an object config is the `defaultConfig` option's.
 */
export function describeError(err: unknown, model: string, config: ModelConfig | null, root: string): string {
  const rel = (p: string) => {
    const r = path.relative(root, p)
    return r.startsWith('..') || path.isAbsolute(r) ? p : r
  }
  const message = err instanceof Error ? err.message : String(err)
  if (config === null) return `unplugin-quantize: cannot read ${rel(model)}: ${message}`
  const cfg = config.kind === 'file' ? rel(config.path) : 'defaultConfig'
  return `unplugin-quantize: cannot quantize ${rel(model)} with ${cfg}: ${message}`
}

import path from 'node:path'

/**
 * One line naming the model and the cfg, then the engine's message (which names the file and
 * line at fault): the bundler prints it as is, so it must say where to look. `configFile` null
 * is the `defaultConfig` option's object; `noConfig` says the model has no cfg at all (it was
 * only to be read and passed through, so naming a cfg would send the reader to the wrong place).
 */
export function describeError(err: unknown, model: string, configFile: string | null, root: string, noConfig = false): string {
  const rel = (p: string) => {
    const r = path.relative(root, p)
    return r.startsWith('..') || path.isAbsolute(r) ? p : r
  }
  const message = err instanceof Error ? err.message : String(err)
  if (noConfig) return `unplugin-quantize: cannot read ${rel(model)}: ${message}`
  const cfg = configFile === null ? 'defaultConfig' : rel(configFile)
  return `unplugin-quantize: cannot quantize ${rel(model)} with ${cfg}: ${message}`
}

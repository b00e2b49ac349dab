import path from 'node:path'

/**
 * One line naming the model and the cfg, then the engine's message (which names the file and
 * line at fault): the bundler prints it as is, so it must say where to look.
 */
export function describeError(err: unknown, model: string, configFile: string | null, root: string): string {
  const rel = (p: string) => {
    const r = path.relative(root, p)
    return r.startsWith('..') || path.isAbsolute(r) ? p : r
  }
  const message = err instanceof Error ? err.message : String(err)
  const cfg = configFile === null ? 'defaultConfig' : rel(configFile)
  return `unplugin-quantize: cannot quantize ${rel(model)} with ${cfg}: ${message}`
}

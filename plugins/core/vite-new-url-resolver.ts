import fs from 'node:fs'
import path from 'node:path'
import type { NewUrlResolver } from './rewrite-new-url.js'
import { isInside } from './watch-inputs.js'

/** The options Vite's asset-import-meta-url plugin gives its resolver. */
interface NewUrlResolveOptions {
  extensions: string[]
  mainFields: string[]
  tryIndex: boolean
  preferRelative: boolean
}

/** The part of Vite's ResolvedConfig read here (vite is an optional peer). */
export interface ViteResolverConfig {
  publicDir?: string
  /** Vite 5 to 8; deprecated since 6, yet what Vite itself still calls for the client and ssr environments. */
  createResolver?: (options: NewUrlResolveOptions) => (id: string, importer?: string) => Promise<string | undefined>
}

/**
 * The resolver Vite's own `new URL(path, import.meta.url)` handling uses for a path that does
 * not start with `.`: `resolve.alias`, then Vite's resolution without extensions or index files,
 * a bare name tried as relative first (so `@/m.onnx` and `pkg/m.onnx` reach a file, as they do
 * for Vite). Through the same resolver the plugin rewrites exactly the models Vite would emit.
 * A file of the public folder resolves to null: Vite serves it at its public URL, where the
 * plugin's public-model handling finds it. Null without `createResolver` (Rollup).
 */
export function viteNewUrlResolver(config: ViteResolverConfig): NewUrlResolver | null {
  if (typeof config.createResolver !== 'function') return null
  const resolve = config.createResolver({ extensions: [], mainFields: [], tryIndex: false, preferRelative: true })
  const publicDir = config.publicDir ? path.resolve(config.publicDir) : null
  return async (spec, importer) => {
    const id = await resolve(spec, importer)
    const file = id?.split('?')[0]
    if (!file || !path.isAbsolute(file) || !fs.statSync(file, { throwIfNoEntry: false })?.isFile()) return null
    if (publicDir && isInside(path.resolve(file), publicDir)) return null
    return file
  }
}

import fs from 'node:fs'
import path from 'node:path'
import MagicString, { type SourceMap } from 'magic-string'
import { stripLiteral } from 'strip-literal'

// Matched against the code with comments and literal contents blanked (strip-literal keeps
// every offset), so only real expressions match: a `new URL(...)` inside a comment or a string
// is spaces by then, and a comment inside the call is whitespace. The literal itself (a quoted
// string or a template literal) is read back from the original code at the same offsets.
// Vite's asset-import-meta-url plugin matches the same spellings, trailing comma included.
const NEW_URL = /\bnew\s+URL\s*\(\s*('[^'\n]*'|"[^"\n]*"|`[^`]*`)\s*,\s*import\.meta\.url\s*(?:,\s*)?\)/dg

/** A `new URL('<spec>', import.meta.url)` found in a module. */
export interface NewUrlModel {
  /** The literal's value: `./m.onnx`, `../models/m.onnx`, `m.onnx`. */
  spec: string
  /** Where the literal (quotes included) starts and ends in the code. */
  start: number
  end: number
}

/** The rewritten module, with the source map from the original (columns move on rewritten lines). */
export interface RewrittenModule {
  code: string
  map: SourceMap
}

/**
 * Every `new URL(<literal>, import.meta.url)` whose literal names a `.onnx` file by a path:
 * relative (`./m.onnx`, `../m.onnx`, or `m.onnx`, which Vite resolves against the importer too)
 * or not (`@/m.onnx`, `pkg/m.onnx`: newUrlImport decides what those name), in single or
 * double quotes, or a template literal without `${}` (a computed path cannot be
 * resolved at build time). Absolute paths (`/m.onnx`: Vite's public folder), URLs with a scheme,
 * escapes and anything marked `/* @vite-ignore *\/` are left alone.
 */
function findNewUrlModels(code: string, markup = false): NewUrlModel[] {
  if (!code.includes('.onnx') || !code.includes('import.meta.url')) return []
  // strip-literal reads JSX text (and Vue/Svelte templates) as JavaScript: an apostrophe in
  // "Don't" opens a string to the end of the line and hides a real `new URL` after it, which
  // Vite would then emit float. There, only comments are left out, found on the code as written.
  const clean = markup ? code : stripLiteral(code)
  const found: NewUrlModel[] = []
  for (const m of clean.matchAll(NEW_URL)) {
    if (markup && inComment(code, m.index)) continue
    const [[callStart], [start, end]] = m.indices! as [number, number][]
    const raw = code.slice(start!, end!)
    const spec = raw.slice(1, -1)
    // Vite's own marker for "leave this URL to the runtime"; the plugin honours it too
    if (code.slice(callStart!, start!).includes('@vite-ignore')) continue
    if (!spec.endsWith('.onnx') || /[\\\n]|\$\{/.test(spec)) continue
    if (spec.startsWith('/') || /^[a-z][a-z\d+.-]*:/i.test(spec)) continue
    found.push({ spec, start: start!, end: end! })
  }
  return found
}

/** Whether `at` is inside a `//` line comment or a `/* *\/` block (a rough test, for sources strip-literal cannot read). */
function inComment(code: string, at: number): boolean {
  const lineStart = code.lastIndexOf('\n', at - 1) + 1
  const before = code.slice(lineStart, at)
  if (/(^|[^:'"`])\/\//.test(before)) return true
  const open = code.lastIndexOf('/*', at)
  return open >= 0 && code.indexOf('*/', open) > at
}

/** Sources with markup strip-literal cannot read: JSX, TSX, Vue and Svelte files. */
const hasMarkup = (file: string | undefined): boolean => !!file && /\.(?:[jt]sx|vue|svelte)$/i.test(file.split('?')[0]!)

/**
 * Turn `new URL('./m.onnx', import.meta.url)` into `new URL(<import of ./m.onnx?url>, import.meta.url)`
 * so the model goes through this plugin's resolveId/load like an import: Vite's own
 * asset-import-meta-url plugin would otherwise emit the float file without asking other plugins.
 * `importOf` gives the specifier to import for a model (`./m.onnx` for `m.onnx`), or null to
 * leave that `new URL` exactly as it is (a model the plugin's filter excludes). Only the literal
 * is replaced; the imports are appended at the end (imports are hoisted), so no line moves.
 * Returns null when there is nothing to do.
 */
export async function rewriteNewUrl(code: string, importOf: (model: NewUrlModel) => Promise<string | null>, source?: string): Promise<RewrittenModule | null> {
  const models = findNewUrlModels(code, hasMarkup(source))
  if (models.length === 0) return null
  const s = new MagicString(code)
  const imports: string[] = []
  for (const model of models) {
    const spec = await importOf(model)
    if (spec === null) continue
    const name = `__unplugin_quantize_url_${imports.length}`
    imports.push(`import ${name} from ${JSON.stringify(`${spec}?url`)};`)
    s.overwrite(model.start, model.end, name)
  }
  if (imports.length === 0) return null
  s.append(`\n${imports.join('\n')}\n`)
  return { code: s.toString(), map: s.generateMap({ hires: true, source, includeContent: true }) }
}

/**
 * Resolves a `new URL` path that is not relative (`@/m.onnx`, `pkg/m.onnx`) to a file as the
 * bundler's own `new URL` handling would, or null when that handling leaves it alone.
 */
export type NewUrlResolver = (spec: string, importer: string) => Promise<string | null>

/**
 * What to import for `new URL(spec, import.meta.url)` in `importer` (a file path), or null to
 * leave it alone: a model the plugin's include/exclude filter does not accept stays exactly as
 * it would be without the plugin. A path that is not relative is asked of `resolve` when there is
 * one (Vite: `resolve.alias` first, then the importer's folder, then packages, as Vite's own
 * handling orders them, so an alias wins over a same-named file beside the importer); without
 * one (esbuild, Rollup) a bare `m.onnx` is taken as `./m.onnx` when that file exists, and any
 * other path is left to the bundler.
 */
export async function newUrlImport(importer: string, spec: string, accepts: (file: string) => boolean, resolve: NewUrlResolver | null = null): Promise<string | null> {
  const file = path.resolve(path.dirname(importer), spec)
  if (spec.startsWith('./') || spec.startsWith('../')) return accepts(file) ? spec : null
  if (!resolve) return fs.existsSync(file) && accepts(file) ? `./${spec}` : null
  const resolved = await resolve(spec, importer)
  if (resolved === null || !/\.onnx$/i.test(resolved) || !accepts(resolved)) return null
  // beside the importer: written as the relative import it is; else imported by its absolute
  // path, so the model is the file the resolver chose even where the import's own resolution
  // would treat the alias differently
  return resolved === file ? `./${spec}` : resolved
}

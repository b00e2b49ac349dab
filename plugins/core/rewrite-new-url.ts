// `new URL('./m.onnx', import.meta.url)` with a literal relative path; template literals with
// `${}` and computed paths are left alone (they cannot be resolved at build time).
const NEW_URL = /new\s+URL\s*\(\s*(['"])(\.{1,2}\/[^'"\n]*?\.onnx)\1\s*,\s*import\.meta\.url\s*\)/g

/**
 * Turn `new URL('./m.onnx', import.meta.url)` into `new URL(<import of ./m.onnx?url>, import.meta.url)`
 * so the model goes through this plugin's resolveId/load like an import: Vite's own
 * asset-import-meta-url plugin would otherwise emit the float file without asking other plugins.
 * The imports are appended at the end (imports are hoisted), so no line moves and the
 * bundler's source maps stay right line by line. Returns null when there is nothing to do.
 */
export function rewriteNewUrl(code: string): string | null {
  if (!code.includes('.onnx') || !code.includes('import.meta.url')) return null
  const imports: string[] = []
  const rewritten = code.replace(NEW_URL, (_match, _quote: string, spec: string) => {
    const name = `__unplugin_quantize_url_${imports.length}`
    imports.push(`import ${name} from ${JSON.stringify(`${spec}?url`)};`)
    return `new URL(${name}, import.meta.url)`
  })
  return imports.length === 0 ? null : `${rewritten}\n${imports.join('\n')}\n`
}

import fs from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { Worker } from 'node:worker_threads'

export type WorkerStart = { ok: true; start: () => Worker } | { ok: false; reason: string }

/**
 * How to start the worker entry `name` (no extension) that sits beside the module at `here`
 * (its `import.meta.url`): the compiled `<name>.js` in dist/, or, when running from the
 * TypeScript sources (tests, `tsx`), `<name>.ts` through tsx's loader, which the worker
 * registers itself (loaders given by `--import` in a worker's execArgv do not apply to its entry
 * module in Node 20).
 */
export function workerStart(here: string, name: string): WorkerStart {
  if (here.endsWith('.js')) {
    const entry = new URL(`./${name}.js`, here)
    if (!fs.existsSync(fileURLToPath(entry))) return { ok: false, reason: `${fileURLToPath(entry)} is missing` }
    return { ok: true, start: () => new Worker(entry) }
  }
  const entry = new URL(`./${name}.ts`, here).href
  let api: string
  try {
    const resolved = createRequire(here).resolve('tsx/esm/api')
    const esm = resolved.replace(/\.cjs$/, '.mjs')
    api = pathToFileURL(fs.existsSync(esm) ? esm : resolved).href
  } catch {
    return { ok: false, reason: 'running from TypeScript sources and tsx (needed to load the worker entry) is not installed' }
  }
  // a failed import exits the worker (its parent sees the exit), whatever --unhandled-rejections says
  const code = `import(${JSON.stringify(api)}).then((tsx) => tsx.tsImport(${JSON.stringify(entry)}, ${JSON.stringify(here)})).catch((e) => { console.error(e); process.exit(1) })`
  return { ok: true, start: () => new Worker(code, { eval: true }) }
}

// Running the CLI in tests: the built bin as a child process (dist/ is built once per run, first),
// temp folders under test/.tmp/ (git-ignored), and folder listings to prove nothing was written.
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const BIN = path.join(ROOT, 'bin/unplugin-quantize.js')
const CLI_JS = path.join(ROOT, 'dist/src/cli.js')

export const WEIGHT8_CFG = path.join(ROOT, 'test/fixtures/cfg-weight/weight8.cfg')

/**
 * Build dist/ as `npm run build` does (`tsc -p tsconfig.build.json` and the rspack loader copied
 * beside its plugin), so that the bin, the package's exports and the built plugins run the code
 * under test. Called once per run from test/setup/build-dist.ts. Type errors elsewhere in the tree
 * do not stop tsc from emitting, so success is judged by dist/src/cli.js being rewritten, not by
 * the exit code; the output is in the error.
 */
export function buildDist(): void {
  const started = Date.now()
  const tsc = spawnSync(process.execPath, [path.join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  const built = fs.statSync(CLI_JS, { throwIfNoEntry: false })
  // mtime has coarse resolution on some file systems; a second of slack is plenty here
  if (!built || built.mtimeMs < started - 1000) {
    throw new Error(`build did not write ${CLI_JS} (tsc exit ${tsc.status}):\n${tsc.stdout}${tsc.stderr}`)
  }
  fs.cpSync(path.join(ROOT, 'plugins/core/rspack-loader.cjs'), path.join(ROOT, 'dist/plugins/core/rspack-loader.cjs'))
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  /** stdout as bytes (a model written with `-o -`) */
  stdoutBytes: Buffer
  stderr: string
}

/** Signals the CLI once it has installed its handlers (test/fixtures/signals/ready.mjs reports that on fd 3). */
const SIGNAL_READY = path.join(ROOT, 'test/fixtures/signals/ready.mjs')

/** Run `node bin/unplugin-quantize.js ...args` in `cwd` (default: the repo root); `signal` is sent once the CLI's signal handlers are in place. */
export function runCli(args: string[], options: { cwd?: string; timeoutMs?: number; signal?: NodeJS.Signals } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const { signal } = options
    const argv = signal ? ['--import', pathToFileURL(SIGNAL_READY).href, BIN, ...args] : [BIN, ...args]
    // fd 3: the preload's "handlers are in place" byte (unused without a signal)
    const child = spawn(process.execPath, argv, { cwd: options.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] })
    if (signal) (child.stdio[3] as NodeJS.ReadableStream).once('data', () => child.kill(signal))
    const chunks: Buffer[] = []
    let stderr = ''
    child.stdout!.on('data', (d: Buffer) => chunks.push(d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const stdoutBytes = Buffer.concat(chunks)
      resolve({ code, signal, stdout: stdoutBytes.toString('utf8'), stdoutBytes, stderr })
    })
  })
}

/** A fresh folder under test/.tmp/ (git-ignored); remove it with `fs.rmSync(dir, { recursive: true })`. */
export function makeTmpDir(prefix: string): string {
  const base = path.join(ROOT, 'test/.tmp')
  fs.mkdirSync(base, { recursive: true })
  return fs.mkdtempSync(path.join(base, `${prefix}-`))
}

/** Every file and folder under `dir`, dotfiles included, as sorted relative paths (folders end in '/'). */
export function listTree(dir: string): string[] {
  const out: string[] = []
  const walk = (rel: string): void => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${e.name}` : e.name
      if (e.isDirectory()) {
        out.push(`${p}/`)
        walk(p)
      } else {
        out.push(p)
      }
    }
  }
  walk('')
  return out.sort()
}

/** The CLI's main() in this process, its output captured; `isTTY` says whether stderr is a terminal, `stdoutIsTTY` stdout. */
export async function runCliInProcess(args: string[], options: { isTTY?: boolean; stdoutIsTTY?: boolean } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const { main } = await import('../../src/cli.js')
  let stdout = ''
  let stderr = ''
  const code = await main(args, {
    stdout: {
      isTTY: options.stdoutIsTTY ?? false,
      write: (t: string | Uint8Array, done?: (err?: Error | null) => void) => {
        stdout += typeof t === 'string' ? t : Buffer.from(t).toString('latin1')
        done?.(null)
      },
    },
    stderr: { isTTY: options.isTTY ?? false, write: (t: string | Uint8Array) => (stderr += typeof t === 'string' ? t : Buffer.from(t).toString('utf8')) },
  })
  return { code, stdout, stderr }
}

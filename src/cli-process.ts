import { main, type CliState } from './cli.js'
import { removeLiveTempDirs } from './temp-dirs.js'

/** Ctrl-C, a closed terminal, a CI job's timeout. */
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']

/**
 * The CLI as its own process (bin/unplugin-quantize.js). For the life of the process a stop
 * signal is handled: Node runs the handler between synchronous stretches of JavaScript, so it
 * cannot land inside the synchronous write of the outputs (temp files, then renames), only before
 * it or after it. The handler says which, removes the temp folders verification may hold, and
 * raises the signal again, so that the parent sees the process ended by it (exit 130 for Ctrl-C in
 * a shell). A reader that closes stdout early under `-o -` ends the run with one line, not a stack.
 */
export async function runCliProcess(argv: string[]): Promise<number> {
  const state: CliState = { written: false }
  const onSignal = (signal: NodeJS.Signals): void => {
    for (const s of STOP_SIGNALS) process.off(s, onSignal)
    removeLiveTempDirs()
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K')
    process.stderr.write(`unplugin-quantize: ${signal}: stopped ${state.written ? 'after writing the outputs' : 'before writing the model'}\n`)
    process.kill(process.pid, signal)
  }
  for (const s of STOP_SIGNALS) process.on(s, onSignal)
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    process.stderr.write(`unplugin-quantize: stdout: ${err.code === 'EPIPE' ? 'closed by its reader before the model was all written' : err.message}\n`)
    process.exit(1)
  })
  return main(argv, undefined, state)
}

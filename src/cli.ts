import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { packageVersion } from './cache/versions.js'
import { loadCfg } from './cfg/index.js'
import type { QuantType } from './cfg/types.js'
import { QuantizeError } from './errors.js'
import { makeDirsSync } from './make-dirs.js'
import { checkOutputs } from './output-checks.js'
import { quantizeModelFile, type QuantizeReport } from './quantize-model.js'
import { HTML_REPORT_FILE } from './report/html/report-file.js'
import { renderReportHtml, type ReportModel } from './report/html/render-report.js'
import { removeStaleRounds } from './report/debug-csv/write-debug-csv.js'
import { reportJson } from './report/report-json.js'
import { WriteError, fsReason, writeFilesAtomic } from './write-atomic.js'

const USAGE = `usage: unplugin-quantize <model.onnx> [--config <file.cfg>] [-o, --out <file>] [--report-dir <dir>] [--json]
       (converter_lite spellings work too: --modelFile=, --configFile=, --outputFile=, --fmk=ONNX,
       --quantType= (the cfg's quant_type decides; a --quantType naming another mode is an error);
       -o - writes the model to stdout and the summary to stderr)
       unplugin-quantize --version`

class UsageError extends Error {}

interface CliArgs {
  model: string
  config: string
  out: string
  /** `-o -`: the model goes to stdout, `out` names no file. */
  toStdout: boolean
  reportDir: string | null
  json: boolean
  /** converter_lite's `--quantType`, as given and as the cfg's quant_type it names; null without it. */
  quantType: { given: string; means: QuantType } | null
}

/**
 * converter_lite's `--quantType` values (the format's mixed-bit command line passes
 * `--quantType=WeightQuant`), and the cfg's own names, case-insensitive. The cfg decides the mode;
 * the flag is only checked against it.
 */
const QUANT_TYPE_FLAGS: Record<string, QuantType> = {
  weightquant: 'WEIGHT_QUANT', posttraining: 'FULL_QUANT',
  weight_quant: 'WEIGHT_QUANT', full_quant: 'FULL_QUANT', dynamic_quant: 'DYNAMIC_QUANT',
}

/** Each option under its spellings: one value each, so giving it twice is a mistake, not a choice of the last. */
const SPELLINGS: Record<string, string> = { configFile: 'config', outputFile: 'out' }

function parse(argv: string[]): CliArgs | 'help' | 'version' {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      tokens: true,
      options: {
        config: { type: 'string', short: 'c' }, configFile: { type: 'string' },
        out: { type: 'string', short: 'o' }, outputFile: { type: 'string' },
        modelFile: { type: 'string' }, 'report-dir': { type: 'string' }, fmk: { type: 'string' }, quantType: { type: 'string' },
        json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' },
      },
    })
  } catch (err) {
    // node's own texts run to a paragraph: one line each
    const message = (err as Error).message
    const unknown = /^Unknown option '([^']+)'/.exec(message)
    if (unknown) throw new UsageError(`unknown option '${unknown[1]}'`)
    const ambiguous = /^Option '([^']+)' argument is ambiguous/.exec(message)
    if (ambiguous) throw new UsageError(`option '${ambiguous[1]}' needs a value`)
    const missing = /^Option '([^']+) <value>' argument missing/.exec(message)
    if (missing) throw new UsageError(`option '${missing[1]}' needs a value`)
    throw new UsageError(message.split('\n')[0]!)
  }
  const { values, positionals, tokens } = parsed
  if (values.help) return 'help'
  if (values.version) return 'version'
  // options given a value (flags carry none): each once, under any of its spellings
  const valued = tokens.flatMap((t) => (t.kind === 'option' && t.value !== undefined ? [t] : []))
  const byOption = new Map<string, typeof valued>()
  for (const t of valued) {
    const key = SPELLINGS[t.name] ?? t.name
    byOption.set(key, [...(byOption.get(key) ?? []), t])
  }
  for (const uses of byOption.values()) {
    if (uses.length < 2) continue
    const spellings = [...new Set(uses.map((t) => t.rawName))]
    throw new UsageError(spellings.length === 1 ? `${spellings[0]} given twice; pass it once` : `${spellings.join(' and ')} both given; pass one`)
  }
  for (const t of valued) if (t.value === '') throw new UsageError(`option '${t.rawName}' needs a value`)
  if (values.fmk !== undefined && values.fmk.toUpperCase() !== 'ONNX') throw new UsageError(`--fmk=${values.fmk}: only ONNX models are read`)
  let quantType: CliArgs['quantType'] = null
  if (values.quantType !== undefined) {
    const means = QUANT_TYPE_FLAGS[values.quantType.toLowerCase()]
    if (!means) throw new UsageError(`--quantType=${values.quantType} is not a quantization type; allowed: WeightQuant, PostTraining (or the cfg's WEIGHT_QUANT, FULL_QUANT, DYNAMIC_QUANT)`)
    quantType = { given: values.quantType, means }
  }
  const model = values.modelFile ?? positionals[0]
  if (!model) throw new UsageError('no model given')
  if (positionals.length > (values.modelFile ? 0 : 1)) throw new UsageError(`unexpected argument '${positionals.at(-1)}'`)
  let out = values.out ?? values.outputFile ?? model.replace(/(\.onnx)?$/i, '.quant.onnx')
  if (/[\\/]$/.test(out)) throw new UsageError(`output '${out}' names a folder; give a file name`)
  // converter_lite's --outputFile takes a name and adds its own extension (.ms); here, .onnx
  // (so `--outputFile=-` names the file `-.onnx`, not stdout)
  if (values.outputFile && !/\.onnx$/i.test(out)) out += '.onnx'
  // /dev/stdout is the shell's name for the same stream: followed as a link it leads to a pipe
  // under /proc that cannot be checked, or to a redirected file that a rename would replace
  const toStdout = out === STDOUT || (values.out !== undefined && STDOUT_NAMES.has(out))
  if (toStdout && values.json) throw new UsageError('-o - and --json both write to stdout; give -o a file name, or drop --json')
  const config = values.config ?? values.configFile ?? defaultConfig(model)
  return { model, config, out, toStdout, reportDir: values['report-dir'] ?? null, json: values.json ?? false, quantType }
}

/** `-o -`: the model on stdout, as compressors and converters do. */
const STDOUT = '-'
/** Other names of stdout that `-o` takes as `-`. */
const STDOUT_NAMES: ReadonlySet<string> = new Set(['/dev/stdout', '/dev/fd/1', '/proc/self/fd/1'])

/** `<name>.onnx.cfg`, else `<name>.cfg`, beside the model. */
export function defaultConfig(model: string): string {
  // a missing model is the problem to report, not the cfg beside it
  if (!fs.existsSync(model)) throw new QuantizeError(model, 'no such file', 'input')
  const a = `${model}.cfg`
  const b = model.replace(/\.onnx$/i, '') + '.cfg'
  if (fs.existsSync(a)) return a
  if (fs.existsSync(b)) return b
  throw new QuantizeError(model, `no cfg given and neither ${path.basename(a)} nor ${path.basename(b)} exists beside it; pass --config <file.cfg>`, 'config')
}

function summary(r: QuantizeReport, out: string): string {
  const pct = (r.sizeOut / r.sizeIn * 100).toFixed(1)
  const cos = r.cosineSimilarity === null ? 'n/a' : r.cosineSimilarity.toFixed(6)
  const width = r.bitNum === 0 ? 'mixed bit' : `${r.bitNum} bit`
  return `${r.input} -> ${out}: ${r.quantType} ${width}, ${r.nodesQuantized} nodes quantized, ${r.nodesSkipped} skipped, `
    + `${r.sizeIn} -> ${r.sizeOut} bytes (${pct}%, brotli ${r.sizesIn.brotli} -> ${r.sizesOut.brotli}), cosine ${cos} on ${r.verification?.inputs ?? 'no'} inputs, ${r.durationMs.toFixed(0)} ms`
}

/** The CLI's model on the HTML report page (the CLI has no cache). */
function cliReportModel(r: QuantizeReport, args: CliArgs): ReportModel {
  return { source: args.model, emitted: args.out, config: args.config, kind: 'quantized', report: r, sizeIn: r.sizeIn, sizeOut: r.sizeOut, status: 'no cache (CLI)', message: null }
}

/** Where the CLI writes; tests and the demo pass their own sinks. */
export interface CliIO {
  /** With `-o -` the model's bytes come here too. */
  stdout: { write(data: string | Uint8Array, done?: (err?: Error | null) => void): unknown; isTTY?: boolean }
  stderr: { write(text: string): unknown; isTTY?: boolean }
}

/**
 * `<output name>.quant.json`: `cls.quant.onnx` gives `cls.quant.json`, `cls-int8.onnx`
 * `cls-int8.quant.json`; with `-o -`, the model's name (`cls.onnx` gives `cls.quant.json`).
 */
function reportJsonName(args: CliArgs): string {
  return `${path.basename(args.toStdout ? args.model : args.out).replace(/\.onnx$/i, '').replace(/\.quant$/i, '')}.quant.json`
}

/** What a signal handler needs to know about a run in progress (src/cli-process.ts). */
export interface CliState {
  /** The batch of output files is in place. */
  written: boolean
}

/** Runs the CLI; returns the exit code. Errors are one line on stderr naming the file. */
export async function main(argv: string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }, state: CliState = { written: false }): Promise<number> {
  let args: CliArgs
  try {
    const parsed = parse(argv)
    // --help and --version are output (stdout, exit 0); a usage mistake is an error (stderr, exit 2)
    if (parsed === 'help' || parsed === 'version') {
      io.stdout.write(`${parsed === 'help' ? USAGE : packageVersion()}\n`)
      return 0
    }
    // a terminal would show (and be confused by) a protobuf
    if (parsed.toStdout && io.stdout.isTTY) throw new UsageError('-o - would write the model to a terminal; redirect stdout to a file or give -o a file name')
    args = parsed
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`unplugin-quantize: ${err.message} (see --help)\n`)
      return 2
    }
    io.stderr.write(`unplugin-quantize: ${(err as Error).message}\n`)
    return 1
  }
  const tty = Boolean(io.stderr.isTTY) && !args.json
  const progress = tty ? (m: string) => io.stderr.write(`\r\x1b[K${m}…`) : undefined
  try {
    // an output that is a symbolic link is written where it leads, its external data beside that
    // the cfg first: its calibration folders and debug_info_save_path are checked with the outputs
    const cfg = await loadCfg(args.config)
    if (args.quantType && args.quantType.means !== cfg.quantType) {
      throw new QuantizeError(args.config, `--quantType=${args.quantType.given} asks for ${args.quantType.means}, but the cfg says quant_type=${cfg.quantType}; the cfg decides the mode: drop --quantType or change quant_type`, 'config')
    }
    const pre = cfg.dataPreprocess
    const calibration = pre && { dirs: pre.calibratePath.map((c) => c.dir), inputType: pre.inputType }
    const { target, externalData: externalDataPath, read } = checkOutputs({ ...args, out: args.toStdout ? null : args.out, calibration, debugDir: cfg.debugInfoSavePath })
    const externalDataLocation = externalDataPath === null ? undefined : path.basename(externalDataPath)
    // --report-dir asks for the per-layer statistics behind the debug CSVs and the HTML report
    // the model as the checks read it, when they had to: decoded once
    const result = await quantizeModelFile(args.model, read, cfg, { onProgress: progress, ...(externalDataLocation ? { externalDataLocation } : {}), ...(args.reportDir ? { debug: true } : {}) })
    if (tty) io.stderr.write('\r\x1b[K')
    const files: { path: string; bytes: Uint8Array | string }[] = target === null ? [] : [{ path: target, bytes: result.model }]
    if (result.externalData && externalDataPath) files.push({ path: externalDataPath, bytes: result.externalData.bytes })
    const json = reportJson(result.report, args.out)
    if (args.reportDir) {
      files.push({ path: path.join(args.reportDir, reportJsonName(args)), bytes: JSON.stringify(json, null, 2) + '\n' })
      files.push({ path: path.join(args.reportDir, HTML_REPORT_FILE), bytes: renderReportHtml([cliReportModel(result.report, args)]) })
      for (const csv of result.debugCsv ?? []) files.push({ path: path.join(args.reportDir, csv.name), bytes: csv.text })
    }
    // The report folder is made only now, and removed again if the write fails: a failed run
    // leaves nothing. A signal cannot stop this synchronous block halfway (src/cli-process.ts).
    let madeDir: string | undefined
    try {
      if (args.reportDir) madeDir = makeDirsSync(args.reportDir)
      writeFilesAtomic(files)
      state.written = true
    } catch (err) {
      if (madeDir) fs.rmSync(madeDir, { recursive: true, force: true })
      if (err instanceof WriteError) throw new QuantizeError(err.file, `cannot write output: ${err.reason}`, 'output', { cause: err })
      throw new QuantizeError(args.reportDir ?? args.out, `cannot create the report folder: ${fsReason(err as NodeJS.ErrnoException)}`, 'output', { cause: err })
    }
    if (args.reportDir) {
      try {
        removeStaleRounds(args.reportDir, result.debugCsv ?? [])
      } catch (err) {
        result.report.warnings.push(`${args.reportDir}: an earlier run's report_<n>.csv could not be removed: ${fsReason(err as NodeJS.ErrnoException)}`)
      }
    }
    for (const w of result.report.warnings) io.stderr.write(`warning: ${w}\n`)
    if (args.toStdout) {
      // the summary once the model is all written: a reader that closes the pipe early gets the
      // one line of the stdout error handler (src/cli-process.ts), not a success line before it
      io.stdout.write(result.model, (err) => {
        if (!err) io.stderr.write(summary(result.report, 'stdout') + '\n')
      })
    } else {
      io.stdout.write(args.json ? JSON.stringify(json) + '\n' : summary(result.report, args.out) + '\n')
    }
    return 0
  } catch (err) {
    if (tty) io.stderr.write('\r\x1b[K')
    const known = err instanceof QuantizeError
    const message = (err as Error).message.split('\n')[0]
    io.stderr.write(`unplugin-quantize: ${known ? message : `${args.model}: ${message}`}\n`)
    return 1
  }
}

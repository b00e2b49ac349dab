import fs from 'node:fs'
import path from 'node:path'
import type { QuantizeReport } from '../../src/quantize-model.js'
import type { CsvFile } from '../../src/report/debug-csv/debug-csv-files.js'
import { reportJson } from '../../src/report/report-json.js'
import { describeError } from './describe-error.js'
import type { ResolvedOptions } from './options.js'
import type { PreparedModel } from './model-inputs.js'
import type { AssetResult, ModelQuantizer } from './quantize-asset.js'

/** A quantized model waiting for the bundler to name its output file. */
export interface PendingReport {
  model: string
  configFile: string | null
  report: QuantizeReport
}

/** The bytes to emit for a model, or the message for a build error (`onError: 'error'`). */
export type ModelOutcome =
  | { ok: true; result: AssetResult; warning: string | null }
  | { ok: false; message: string }

/**
 * Quantize one model for a bundler plugin, applying `onError`: a failure becomes either an
 * error message (the caller fails the build) or the original bytes plus a warning.
 */
export async function quantizeForBundler(quantizer: ModelQuantizer, prepared: PreparedModel, options: ResolvedOptions, root: string): Promise<ModelOutcome> {
  const { model } = prepared
  try {
    return { ok: true, result: await quantizer.process(prepared), warning: null }
  } catch (err) {
    const message = describeError(err, model, prepared.config, root)
    if (options.onError === 'error') return { ok: false, message }
    return { ok: true, result: { kind: 'original', bytes: await fs.promises.readFile(model) }, warning: `${message}; emitting the original model` }
  }
}

/** `<model>.quant.json`'s file name (beside the emitted model) and its text. */
export function reportFile(pending: PendingReport, emittedName: string, root: string): { fileName: string; source: string } {
  const rel = (p: string) => path.relative(root, p).split(path.sep).join('/')
  const report = { ...pending.report, input: rel(pending.model), config: pending.configFile ? rel(pending.configFile) : pending.report.config }
  return {
    fileName: `${emittedName.replace(/\.onnx$/i, '')}.quant.json`,
    source: `${JSON.stringify(reportJson(report, emittedName), null, 2)}\n`,
  }
}

/**
 * The debug CSVs' file names in the bundle: a `<model>.debug/` folder beside the emitted model
 * (`assets/m-<hash>.debug/output_summary.csv`), named after it as the `.quant.json` is.
 */
export function debugCsvFiles(emittedName: string, csv: readonly CsvFile[]): { fileName: string; source: string }[] {
  const folder = `${emittedName.replace(/\.onnx$/i, '')}.debug`
  return csv.map((f) => ({ fileName: `${folder}/${f.name}`, source: f.text }))
}

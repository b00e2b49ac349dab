import type { QuantizedLayer } from '../../quant/weight-quant.js'
import { csvText } from './csv.js'
import type { DebugRound, DebugStats } from './debug-stats.js'
import { quantParamRows, type QuantParamRow } from './quant-param-rows.js'

export const OUTPUT_SUMMARY_HEADER = ['Round', 'TensorName', 'CosineSimilarity'] as const
export const REPORT_HEADER = [
  'NodeName', 'NodeType', 'TensorName', 'InOutFlag', 'DataTypeFlag', 'TensorTypeFlag',
  'Min', 'Q1', 'Median', 'Q3', 'Max', 'Mean', 'Var', 'Sparsity', 'Clip', 'CosineSimilarity',
] as const
export const QUANT_PARAM_HEADER = [
  'NodeName', 'NodeType', 'TensorName', 'ElementsNum', 'Dims', 'Scale', 'ZeroPoint', 'Bits', 'CorrectionVar', 'CorrectionMean',
] as const

export interface CsvFile {
  name: string
  text: string
}

/** `output_summary.csv`: each float32 tensor output's cosine vs fp32, per round. */
function outputSummaryCsv(rounds: readonly DebugRound[]): string {
  return csvText(OUTPUT_SUMMARY_HEADER, rounds.flatMap((r) => r.outputs.map((o) => [r.round, o.tensor, o.cosine])))
}

/** `report_<round>.csv`: each node's float tensors, original and as the quantized model computes them. */
function reportCsv(round: DebugRound): string {
  return csvText(REPORT_HEADER, round.rows.map((r) => [
    r.nodeName, r.nodeType, r.tensorName, r.inOut, r.dataType, r.tensorType,
    r.stats.min, r.stats.q1, r.stats.median, r.stats.q3, r.stats.max, r.stats.mean, r.stats.std, r.stats.sparsity, r.clip, r.cosine,
  ]))
}

/**
 * `quant_param.csv`: one row per channel of each quantized node input (see quantParamRows), as
 * the format writes it: scalar Scale and ZeroPoint, Dims space-separated (`32 3 3 3`).
 */
function quantParamCsv(rows: readonly QuantParamRow[]): string {
  return csvText(QUANT_PARAM_HEADER, rows.map((r) => [
    r.nodeName, r.nodeType, r.tensor, r.elements, r.dims.join(' '), r.scale, r.zeroPoint, r.bits, r.correctionVar, r.correctionMean,
  ]))
}

/** The format's three reports (report_<round>.csv numbered from 0), ready to write. */
export function debugCsvFiles(stats: Pick<DebugStats, 'rounds' | 'nodes' | 'dequantInputs'>, layers: readonly QuantizedLayer[]): CsvFile[] {
  return [
    { name: 'output_summary.csv', text: outputSummaryCsv(stats.rounds) },
    ...stats.rounds.map((r) => ({ name: `report_${r.round}.csv`, text: reportCsv(r) })),
    { name: 'quant_param.csv', text: quantParamCsv(quantParamRows(stats, layers)) },
  ]
}

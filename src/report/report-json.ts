import type { QuantizeReport } from '../quantize-model.js'

const round = (x: number, digits = 6): number => Number(x.toPrecision(digits))

/**
 * The CLI's --json object and the `.quant.json` report: the summary fields first, then one row
 * per quantized and per skipped weight. Per-channel scales stay out (they are in quant_param.csv).
 */
export function reportJson(r: QuantizeReport, output: string) {
  return {
    input: r.input,
    output,
    config: r.config,
    quantType: r.quantType,
    bitNum: r.bitNum,
    sizeIn: r.sizeIn,
    sizeOut: r.sizeOut,
    sizes: { in: r.sizesIn, out: r.sizesOut },
    durationMs: Math.round(r.durationMs),
    nodesQuantized: r.nodesQuantized,
    nodesSkipped: r.nodesSkipped,
    cosineSimilarity: r.cosineSimilarity,
    verification: r.verification && {
      inputs: r.verification.inputs,
      samples: r.verification.samples,
      outputs: r.verification.outputs.map((o) => ({ name: o.name, type: o.type, cosine: o.cosine, maxAbsDiff: round(o.maxAbsDiff) })),
      error: r.verification.error,
      nativeInt8Cosine: r.verification.nativeInt8Cosine,
    },
    layers: r.layers.map((l) => ({
      nodes: l.nodes, tensor: l.tensor, dims: l.dims, bits: l.bits, axis: l.axis, relativeError: round(l.relativeError, 4),
    })),
    skipped: r.skipped,
    biasCorrected: r.biasCorrected,
    accuracy: r.accuracy,
    errorFeedback: r.errorFeedback ?? null,
    full: r.full,
    dynamic: r.dynamic,
    mixedBit: r.mixedBit,
    guard: r.guard ?? null,
    recommendations: r.debug ? { items: r.debug.recommendations, skipLine: r.debug.skipLine } : null,
    warnings: r.warnings,
  }
}

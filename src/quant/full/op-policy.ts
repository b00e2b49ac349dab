/**
 * Which ops FULL_QUANT runs on int8 data, decided per op type by what onnxruntime's CPU provider
 * turns into integer kernels and what measured faster or as accurate (README, "How FULL_QUANT
 * works", has the measurements).
 *
 * - `weighted`: Conv, Gemm, MatMul with a constant weight: int8 weights, int32 bias, fused into
 *   QLinearConv / QGemm / QLinearMatMul.
 * - `activations`: ops whose every input is an activation and that fuse with Q/DQ on all inputs
 *   and the output: Add and Mul of two activations (QLinearAdd/QLinearMul), Concat
 *   (QLinearConcat), MatMul of two activations, the average pools (QLinearAveragePool,
 *   QLinearGlobalAveragePool).
 * - `passThrough`: ops that only move or select values; their output shares the input's scale and
 *   zero point, so onnxruntime drops the Q/DQ pair around them and runs them on int8 data.
 * - `clampToZero`: Relu (and Clip with a lower bound of 0) right after a quantized op: the op's
 *   output is quantized with the Relu's range instead, zero point at the integer minimum, and
 *   onnxruntime removes the Relu (ReluQuantFusion / ClipQuantFusion).
 * Everything else stays float: its inputs are dequantized and its output is quantized again only
 * where a quantized op reads it.
 */
export const WEIGHTED_OPS = new Set(['Conv', 'Gemm', 'MatMul'])
export const ACTIVATION_OPS = new Set(['Add', 'Mul', 'Concat', 'MatMul', 'GlobalAveragePool', 'AveragePool'])
export const PASS_THROUGH_OPS = new Set(['Reshape', 'Transpose', 'Squeeze', 'Unsqueeze', 'Flatten', 'MaxPool', 'Resize', 'Slice', 'Gather', 'Identity', 'Expand', 'DepthToSpace', 'SpaceToDepth'])
export const CLAMP_TO_ZERO_OPS = new Set(['Relu', 'Clip'])

/** The policy one run uses: the op sets above minus what the caller keeps float. */
export interface OpPolicy {
  /** Op types kept float with the reason (measured; see README). */
  keepFloat: Map<string, string>
}

/** Defaults measured on PP-OCRv4 det/rec with onnxruntime-node 1.30 (README, "How FULL_QUANT works"). */
export function defaultOpPolicy(): OpPolicy {
  return {
    keepFloat: new Map([
      ['ConvTranspose', 'onnxruntime has no int8 ConvTranspose kernel: it would run float between a DequantizeLinear and a QuantizeLinear'],
      ['Resize', 'int8 Resize measured no faster than float on onnxruntime CPU (PP-OCRv4 det 0.571x vs 0.567x of fp32)'],
      ['Mul', 'QLinearMul measured no faster than float Mul and less accurate (PP-OCRv4 det 0.568x vs 0.567x of fp32, cosine 0.813 vs 0.868)'],
    ]),
  }
}

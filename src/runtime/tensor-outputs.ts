import type ort from 'onnxruntime-node'

/**
 * The outputs of `session` a run may fetch: those of `names` that are tensors (all its outputs by
 * default). onnxruntime-node 1.30 ends the process with SIGSEGV when a run returns an optional
 * value (the ONNX backend test `test_if_opt`) and cannot return sequences or maps, so the engine's
 * runs name what they fetch instead of taking every output.
 */
export function tensorOutputs(session: ort.InferenceSession, names: readonly string[] = session.outputNames): string[] {
  const isTensor = new Map(session.outputMetadata.map((m) => [m.name, m.isTensor]))
  return names.filter((name) => isTensor.get(name) !== false)
}

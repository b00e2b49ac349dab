import type ort from 'onnxruntime-node'

// onnxruntime-node 1.30 ends the process with SIGSEGV when a run returns an empty optional (the
// ONNX backend test `test_if_opt`) and throws on sequences and maps, so the engine's runs name
// what they fetch instead of taking every output.

/**
 * Those of `names` that are tensors of numbers (names the session does not output are kept).
 * String tensors are left out too: they have no cosine (a label a classifier looks up changes only
 * where the scores it is looked up from do, and those are compared).
 */
export function tensorsAmong(session: ort.InferenceSession, names: readonly string[]): string[] {
  const meta = new Map(session.outputMetadata.map((m) => [m.name, m]))
  return names.filter((name) => {
    const m = meta.get(name)
    return !m || (m.isTensor && m.type !== 'string')
  })
}

/**
 * A model with nothing to compare: its outputs are all sequences, maps or optionals, or (for a
 * measure that needs continuous values) none of its tensor outputs is floating point.
 */
export class NoTensorOutputs extends Error {
  override name = 'NoTensorOutputs'
  constructor(message = 'the model has no tensor outputs of numbers to compare (only strings, sequences, maps or optionals)') {
    super(message)
  }
}

/** The outputs of `session` a run compares: its tensor outputs. Throws NoTensorOutputs when it has none. */
export function tensorOutputs(session: ort.InferenceSession): string[] {
  const names = tensorsAmong(session, session.outputNames)
  if (!names.length) throw new NoTensorOutputs()
  return names
}

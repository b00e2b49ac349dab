import { int64ToNumber, type GraphProto, type ModelProto } from './onnx-types.js'

/** The graph's initializer names, and those of them also listed as graph inputs. */
function listing(graph: GraphProto): { names: string[]; listed: string[] } {
  const inputs = new Set((graph.input ?? []).map((i) => i.name ?? ''))
  const names = (graph.initializer ?? []).flatMap((t) => (t.name ? [t.name] : []))
  return { names, listed: names.filter((n) => inputs.has(n)) }
}

/**
 * The initializers of `graph` a caller may override by feeding an input of that name: from IR 4
 * on, those also listed as graph inputs (onnxruntime then does not treat them as constants).
 * Below IR 4 every initializer had to be listed, and some exporters kept doing so at IR 4-7
 * (PyTorch before 1.3's keep_initializers_as_inputs, keras2onnx, tf2onnx): a graph that lists
 * every one of its initializers is read as that habit, not as a choice, and none counts.
 */
export function overridableInitializers(model: ModelProto, graph: GraphProto): Set<string> {
  if (int64ToNumber(model.ir_version) < 4) return new Set()
  const { names, listed } = listing(graph)
  return listed.length === names.length ? new Set() : new Set(listed)
}

/** Whether `graph` lists every initializer as an input at IR >= 4, the habit overridableInitializers forgives. */
export function listsEveryInitializer(model: ModelProto, graph: GraphProto): boolean {
  const { names, listed } = listing(graph)
  return int64ToNumber(model.ir_version) >= 4 && names.length > 0 && listed.length === names.length
}

/** The warning for a model whose listed initializers were read as constants, `quantized` of them replaced (and so no longer inputs). */
export function everyInitializerListedWarning(initializers: number, quantized: number): string {
  return `the model lists all ${initializers} of its initializers as graph inputs (an old exporter habit, the format's rule below IR 4): they are read as constants, and the ${quantized} quantized ones are no longer inputs`
}

import ort from 'onnxruntime-node'
import type { CalibrationSet } from '../../calibrate/calibration-set.js'
import { decodeModelProto, encodeModelProto } from '../../onnx/codec.js'
import { allNames, opsetVersion, NameAllocator } from '../../onnx/graph-walk.js'
import { AttributeType, DataType, type NodeProto } from '../../onnx/onnx-types.js'
import { makeTensor } from '../../onnx/tensor-data.js'

/** A tensor whose per-channel mean is wanted: channels on axis 1 of a rank-`rank` tensor (Conv), or on the last axis of size `channels` (MatMul/Gemm). */
export interface ChannelRequest {
  tensor: string
  layout: { kind: 'channelsFirst'; rank: number } | { kind: 'channelsLast'; channels: number }
}

/**
 * Per-channel means of float-model tensors over the given calibration samples. The model gets a
 * ReduceMean per request, so onnxruntime hands back one value per channel instead of the
 * activation itself: a run costs about one inference per sample.
 */
export async function channelMeans(modelBytes: Uint8Array, requests: ChannelRequest[], set: CalibrationSet, samples: number[]): Promise<Map<string, Float64Array>> {
  const results = new Map<string, Float64Array>()
  if (requests.length === 0 || samples.length === 0) return results
  const model = decodeModelProto(modelBytes)
  const graph = model.graph!
  const inits = (graph.initializer ??= [])
  const names = new NameAllocator(allNames(model))
  // ReduceMean takes its axes as an input from opset 18
  const axesAsInput = opsetVersion(model) >= 18
  const outputs = new Map<string, string>()
  const nodes: NodeProto[] = []
  for (const r of requests) {
    if (outputs.has(r.tensor)) continue
    const base = r.tensor
    let source = r.tensor
    let axes: number[]
    if (r.layout.kind === 'channelsFirst') {
      axes = [0, ...Array.from({ length: r.layout.rank - 2 }, (_, i) => i + 2)]
    } else {
      const shape = names.take(`${base}_probe_shape`)
      inits.push(makeTensor(shape, DataType.INT64, [2], BigInt64Array.of(-1n, BigInt(r.layout.channels))))
      const rows = names.take(`${base}_probe_rows`)
      nodes.push({ name: names.take(`${base}_probe_Reshape`), op_type: 'Reshape', input: [source, shape], output: [rows] })
      source = rows
      axes = [0]
    }
    const out = names.take(`${base}_channel_mean`)
    const reduce: NodeProto = { name: names.take(`${base}_probe_ReduceMean`), op_type: 'ReduceMean', input: [source], output: [out], attribute: [{ name: 'keepdims', type: AttributeType.INT, i: 0 }] }
    if (axesAsInput) {
      const a = names.take(`${base}_probe_axes`)
      inits.push(makeTensor(a, DataType.INT64, [axes.length], BigInt64Array.from(axes.map(BigInt))))
      reduce.input!.push(a)
    } else reduce.attribute!.push({ name: 'axes', type: AttributeType.INTS, ints: axes })
    nodes.push(reduce)
    outputs.set(r.tensor, out)
  }
  graph.node = [...(graph.node ?? []), ...nodes]
  graph.output = [...(graph.output ?? []), ...[...new Set(outputs.values())].map((name) => ({ name }))]
  const session = await ort.InferenceSession.create(encodeModelProto(model), { logSeverityLevel: 3 })
  try {
    for (const i of samples) {
      const result = await session.run(await set.sample(i), [...new Set(outputs.values())])
      for (const [key, out] of outputs) {
        const values = result[out]!.data as Float32Array
        let acc = results.get(key)
        if (!acc) results.set(key, (acc = new Float64Array(values.length)))
        for (let c = 0; c < values.length; c++) acc[c]! += values[c]! / samples.length
      }
    }
  } finally {
    await session.release()
  }
  return results
}

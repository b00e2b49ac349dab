import { encodeModelProto } from '../../src/onnx/codec.js'
import { AttributeType, DataType, type NodeProto, type TensorProto, type ValueInfoProto } from '../../src/onnx/onnx-types.js'
import { makeTensor } from '../../src/onnx/tensor-data.js'
import { seededRandom } from '../../src/runtime/feeds.js'

/** Graphs the real test models do not cover (Gather tables, shared weights), built at test time. */

export function randomTensor(name: string, dims: number[], seed: number, scale = 0.1): TensorProto {
  const rand = seededRandom(seed)
  const n = dims.reduce((a, b) => a * b, 1)
  // sum of uniforms: bell-shaped like trained weights
  return makeTensor(name, DataType.FLOAT, dims, Float32Array.from({ length: n }, () => (rand() + rand() + rand() - 1.5) * scale))
}

export function valueInfo(name: string, elemType: DataType, dims: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: { tensor_type: { elem_type: elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
  }
}

export function node(op: string, inputs: string[], outputs: string[], attrs: Record<string, number> = {}): NodeProto {
  return {
    name: `${op}_${outputs[0]}`, op_type: op, input: inputs, output: outputs,
    attribute: Object.entries(attrs).map(([name, i]) => ({ name, type: AttributeType.INT, i })),
  }
}

export function buildModel(parts: { nodes: NodeProto[]; initializers: TensorProto[]; inputs: ValueInfoProto[]; outputs: ValueInfoProto[]; opset?: number }): Uint8Array {
  return encodeModelProto({
    ir_version: 8,
    opset_import: [{ domain: '', version: parts.opset ?? 17 }],
    producer_name: 'unplugin-quantize tests',
    graph: { name: 'g', node: parts.nodes, initializer: parts.initializers, input: parts.inputs, output: parts.outputs },
  })
}

// What the fold passes need to know about one graph: who produces and who reads each name, which
// names are constants (initializers or `Constant` nodes, never overridable graph inputs), and a
// way to add new constants under names that collide with nothing in the model.
import { attr, consumersOf, type NameAllocator } from '../../onnx/graph-walk.js'
import { AttributeType, DataType, int64ToNumber, type GraphProto, type NodeProto, type TensorProto } from '../../onnx/onnx-types.js'
import { isExternal, makeTensor, tensorDims, tensorToFloat32, type ExternalDataSource } from '../../onnx/tensor-data.js'

export interface ConstantValue {
  dims: number[]
  values: Float32Array
}

export interface GraphIndexOptions {
  /** Reads tensors stored outside the model file; without it such weights are left alone. */
  external?: ExternalDataSource
  /**
   * Write new constants as `Constant` nodes rather than initializers: before IR version 4 every
   * initializer had to be listed as a graph input, which would let callers override it.
   */
  constantNodes?: boolean
  /** Collects the names of constants stored outside the file that were needed but not readable. */
  unreadable?: Set<string>
}

export class GraphIndex {
  readonly producer = new Map<string, NodeProto>()
  readonly graphOutputs: Set<string>
  private readonly readers: Map<string, NodeProto[]>
  private readonly initializers = new Map<string, TensorProto>()
  private readonly created = new Map<string, TensorProto>()

  constructor(readonly graph: GraphProto, private readonly names: NameAllocator, private readonly options: GraphIndexOptions = {}) {
    for (const node of graph.node ?? []) for (const o of node.output ?? []) if (o) this.producer.set(o, node)
    this.readers = consumersOf(graph)
    this.graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''))
    // an initializer that is also a graph input can be replaced by the caller at run time
    const inputs = new Set((graph.input ?? []).map((i) => i.name ?? ''))
    for (const t of graph.initializer ?? []) if (t.name && !inputs.has(t.name)) this.initializers.set(t.name, t)
  }

  /** The rank of a tensor when the graph declares its shape or a Conv produces it, else null. */
  rankOf(name: string): number | null {
    for (const v of [...(this.graph.value_info ?? []), ...(this.graph.input ?? []), ...(this.graph.output ?? [])]) {
      if (v.name === name && v.type?.tensor_type?.shape) return v.type.tensor_type.shape.dim?.length ?? 0
    }
    const node = this.producer.get(name)
    if ((node?.op_type === 'Conv' || node?.op_type === 'ConvTranspose') && !node.domain && node.input?.[1]) {
      const w = this.constantTensor(node.input[1])
      if (w) return w.dims?.length ?? null
    }
    return null
  }

  /** The size of axis 1 (channels) when the graph declares it or a conv produces the tensor, else null. */
  channelsOf(name: string): number | null {
    for (const v of [...(this.graph.value_info ?? []), ...(this.graph.input ?? []), ...(this.graph.output ?? [])]) {
      const d = v.name === name ? v.type?.tensor_type?.shape?.dim?.[1] : undefined
      if (d && Object.prototype.hasOwnProperty.call(d, 'dim_value')) return int64ToNumber(d.dim_value)
    }
    const node = this.producer.get(name)
    const w = node && !node.domain && node.input?.[1] ? this.floatDims(node.input[1]) : null
    if (!w || w.length < 3) return null
    if (node!.op_type === 'Conv') return w[0]!
    if (node!.op_type === 'ConvTranspose') return w[1]! * (int64ToNumber(attr(node!, 'group')?.i) || 1)
    return null
  }

  consumers(name: string): NodeProto[] {
    return this.readers.get(name) ?? []
  }

  /** Read by exactly `node` and nothing else (no other node, no subgraph, not a graph output). */
  onlyReadBy(name: string, node: NodeProto): boolean {
    const readers = this.consumers(name)
    return !this.graphOutputs.has(name) && readers.length === 1 && readers[0] === node
  }

  /** The constant tensor behind a name, or null when the name is computed or overridable. */
  constantTensor(name: string): TensorProto | null {
    const init = this.initializers.get(name) ?? this.created.get(name)
    if (init) return init
    const node = this.producer.get(name)
    if (!node || node.op_type !== 'Constant' || node.domain) return null
    const value = attr(node, 'value')
    if (value && Object.prototype.hasOwnProperty.call(value, 't') && value.t) return value.t
    const f = attr(node, 'value_float')
    if (f && f.type === AttributeType.FLOAT) return makeTensor(name, DataType.FLOAT, [], Float32Array.of(f.f ?? 0))
    const fs = attr(node, 'value_floats')
    if (fs && fs.type === AttributeType.FLOATS) return makeTensor(name, DataType.FLOAT, [fs.floats?.length ?? 0], Float32Array.from(fs.floats ?? []))
    return null
  }

  /** A FLOAT constant's dims, without reading its values; null when the name is not one. */
  floatDims(name: string): number[] | null {
    const t = this.constantTensor(name)
    return t && t.data_type === DataType.FLOAT ? tensorDims(t) : null
  }

  /** A FLOAT constant's values (as stored: float32 only, so folding never changes a tensor's type). */
  floatConstant(name: string): ConstantValue | null {
    const t = this.constantTensor(name)
    if (!t || t.data_type !== DataType.FLOAT) return null
    if (isExternal(t) && !this.options.external) {
      this.options.unreadable?.add(name)
      return null
    }
    try {
      return { dims: tensorDims(t), values: tensorToFloat32(t, this.options.external) }
    } catch {
      return null
    }
  }

  /** A new float constant (initializer or Constant node); the caller points inputs at the returned name. */
  addConstant(hint: string, dims: readonly number[], values: Float32Array): string {
    const name = this.names.take(hint)
    const tensor = makeTensor(name, DataType.FLOAT, dims, values)
    if (this.options.constantNodes) {
      // first in the list, so that a topologically sorted graph stays sorted
      const node: NodeProto = { name: this.names.take(`${name}_Constant`), op_type: 'Constant', input: [], output: [name], attribute: [{ name: 'value', type: AttributeType.TENSOR, t: tensor }] }
      this.graph.node = [node, ...(this.graph.node ?? [])]
      this.producer.set(name, node)
    } else {
      ;(this.graph.initializer ??= []).push(tensor)
    }
    this.created.set(name, tensor)
    return name
  }

  newNodeName(hint: string): string {
    return this.names.take(hint)
  }
}

/** The single value of a one-element float constant, or null. */
export function scalarOf(c: ConstantValue | null): number | null {
  return c && c.values.length === 1 ? c.values[0]! : null
}

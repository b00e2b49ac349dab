import type ort from 'onnxruntime-node'
import { NameAllocator } from '../onnx/graph-walk.js'
import { AttributeType, DataType, type ModelProto, type NodeProto, type TensorProto } from '../onnx/onnx-types.js'
import { makeTensor } from '../onnx/tensor-data.js'
import { firstNonFiniteIn } from '../runtime/non-finite.js'
import { orderProbes } from './graph-probes.js'
import { tensorFloats, scalarOf } from './ort-values.js'

export interface OutlierOutputs {
  /** Element count (Size) of the tensor on this sample. */
  size: string
  /** The k smallest values ascending, and the k largest descending. */
  lowest: string
  highest: string
}

/**
 * The model with, per tensor, TopK of its flattened values at both ends, k computed in the
 * graph from the tensor's size as floor(share * (n - 1)) + 3 (capped at n): enough order
 * statistics to interpolate the `share` and 1 - `share` quantiles, whatever size the sample
 * gives the tensor. Needs opset 11 (TopK's `largest`).
 */
export function withOutlierProbes(model: ModelProto, names: readonly string[], share: number): { model: ModelProto; outputs: Map<string, OutlierOutputs>; fetches: string[] } {
  const namer = NameAllocator.forModel(model)
  const fresh = (base: string): string => namer.take(base)
  const inits: TensorProto[] = []
  const constant = (base: string, type: DataType, dims: number[], data: ArrayBufferView): string => {
    const n = fresh(base)
    inits.push(makeTensor(n, type, dims, data))
    return n
  }
  const flatShape = constant('calib_flat_shape', DataType.INT64, [1], BigInt64Array.of(-1n))
  const one = constant('calib_one', DataType.FLOAT, [], Float32Array.of(1))
  const three = constant('calib_three', DataType.FLOAT, [], Float32Array.of(3))
  const shareName = constant('calib_share', DataType.FLOAT, [], Float32Array.of(share))
  const castTo = (to: DataType) => [{ name: 'to', type: AttributeType.INT, i: to }]
  const nodes: NodeProto[] = []
  const outputs = new Map<string, OutlierOutputs>()
  for (const name of names) {
    const t = (s: string): string => fresh(`${name}__calib_${s}`)
    const node = (op: string, input: string[], output: string[], attribute?: NodeProto['attribute']): void => {
      nodes.push({ op_type: op, name: t(`${op.toLowerCase()}_node`), input, output, ...(attribute ? { attribute } : {}) })
    }
    const flat = t('flat'); node('Reshape', [name, flatShape], [flat])
    const size = t('size'); node('Size', [name], [size])
    const n = t('n'); node('Cast', [size], [n], castTo(DataType.FLOAT))
    const m = t('n_minus_1'); node('Sub', [n, one], [m])
    const pos = t('pos'); node('Mul', [m, shareName], [pos])
    const fl = t('pos_floor'); node('Floor', [pos], [fl])
    const k3 = t('k_float'); node('Add', [fl, three], [k3])
    const kc = t('k_capped'); node('Min', [k3, n], [kc])
    const ki = t('k_int'); node('Cast', [kc], [ki], castTo(DataType.INT64))
    const k = t('k'); node('Reshape', [ki, flatShape], [k])
    const lowest = t('lowest'); node('TopK', [flat, k], [lowest, t('lowest_index')], [{ name: 'largest', type: AttributeType.INT, i: 0 }, { name: 'sorted', type: AttributeType.INT, i: 1 }])
    const highest = t('highest'); node('TopK', [flat, k], [highest, t('highest_index')], [{ name: 'largest', type: AttributeType.INT, i: 1 }, { name: 'sorted', type: AttributeType.INT, i: 1 }])
    outputs.set(name, { size, lowest, highest })
  }
  const graph = model.graph ?? {}
  const fetches = [...outputs.values()].flatMap((o) => [o.size, o.lowest, o.highest])
  return {
    model: { ...model, graph: { ...graph, node: orderProbes(graph.node ?? [], nodes), initializer: [...(graph.initializer ?? []), ...inits], output: [...(graph.output ?? []), ...fetches.map((f) => ({ name: f }))] } },
    outputs,
    fetches,
  }
}

/**
 * The `share` and 1 - `share` quantiles (linear interpolation at position q * (n - 1)) from a
 * probe run's order statistics; null for an empty tensor.
 */
export function outlierQuantiles(result: ort.InferenceSession.ReturnType, outputs: OutlierOutputs, share: number): { low: number; high: number } | null {
  const n = scalarOf(result[outputs.size]!)
  if (!(n > 0)) return null
  const lowest = tensorFloats(result[outputs.lowest]!)
  const highest = tensorFloats(result[outputs.highest]!)
  const pos = share * (n - 1)
  const k = Math.floor(pos)
  const frac = pos - k
  const at = (a: Float32Array, i: number): number => a[Math.min(i, a.length - 1)]!
  // a NaN or infinity among them counts in `n` and in the order: the caller redoes such a tensor over its finite values
  if (firstNonFiniteIn(lowest) >= 0 || firstNonFiniteIn(highest) >= 0) return { low: NaN, high: NaN }
  const low = frac === 0 ? at(lowest, k) : at(lowest, k) + frac * (at(lowest, k + 1) - at(lowest, k))
  // the 1 - share quantile sits at ascending position (n - 1) - pos: descending index pos
  const high = frac === 0 ? at(highest, k) : at(highest, k + 1) + (1 - frac) * (at(highest, k) - at(highest, k + 1))
  return { low, high }
}

import { allGraphScopes, attr, opsetVersion } from '../../onnx/graph-walk.js'
import { AttributeType, DataType, int64ToNumber, type ModelProto, type NodeProto, type TensorProto } from '../../onnx/onnx-types.js'
import { makeTensor } from '../../onnx/tensor-data.js'
import type { NameAllocator } from '../dequant-nodes.js'

/** DynamicQuantizeLinear, the op that quantizes activations at run time, exists from opset 11. */
export const DYNAMIC_OPSET = 11

/** What raising the opset did, or why it could not. */
export interface OpsetUpgrade {
  from: number
  to: number
  /** Nodes rewritten to the new signature, per op type (Clip and Pad moved attributes to inputs…). */
  rewritten: Record<string, number>
}

/**
 * Ops whose meaning changed between the model's opset and 11 in a way this upgrade does not
 * rewrite: the model then keeps its opset (and its MatMuls stay float).
 */
function blocker(op: string, from: number): boolean {
  if (op === 'Upsample' || op === 'Scatter') return true // deprecated by 11
  if (op === 'TopK') return from < 10 // k moved from an attribute to an input
  if (op === 'Resize') return from === 10 // coordinate modes rewritten in 11
  return false
}

function constantNode(names: NameAllocator, base: string, tensor: TensorProto): NodeProto {
  return { name: names.take(`${base}_Constant`), op_type: 'Constant', input: [], output: [tensor.name!], attribute: [{ name: 'value', type: AttributeType.TENSOR, t: tensor }] }
}

function dropAttrs(node: NodeProto, drop: string[]): void {
  node.attribute = (node.attribute ?? []).filter((a) => !drop.includes(a.name ?? ''))
}

function int64s(name: string, values: number[]): TensorProto {
  return makeTensor(name, DataType.INT64, [values.length], BigInt64Array.from(values.map(BigInt)))
}

/**
 * Raise the default-domain opset to 11 so that DynamicQuantizeLinear can be used, rewriting the
 * ops whose signature changed on the way: Clip (min/max attributes → inputs, at 11), Slice
 * (starts/ends/axes attributes → inputs, at 10) and Pad (pads/value → inputs, at 11). Every other
 * op kept its meaning for valid models (later versions only added types, negative axes or
 * attributes with the old default). Returns null, changing nothing, when an op that did change
 * (Upsample, TopK before 10, Resize at 10, Scatter) is present; `blockers` then names them.
 */
export function upgradeOpset(model: ModelProto, names: NameAllocator): { upgrade: OpsetUpgrade | null; blockers: string[] } {
  const from = opsetVersion(model)
  if (from >= DYNAMIC_OPSET) return { upgrade: null, blockers: [] }
  const scopes = allGraphScopes(model)
  const blockers = new Set<string>()
  for (const { graph } of scopes) for (const n of graph.node ?? []) if (!n.domain && blocker(n.op_type ?? '', from)) blockers.add(n.op_type!)
  if (blockers.size) return { upgrade: null, blockers: [...blockers] }
  const rewritten: Record<string, number> = {}
  for (const { graph } of scopes) {
    const out: NodeProto[] = []
    for (const n of graph.node ?? []) {
      const base = n.name || n.output?.[0] || n.op_type || 'node'
      const extra: NodeProto[] = []
      if (!n.domain && n.op_type === 'Clip' && from < 11) {
        const min = attr(n, 'min')
        const max = attr(n, 'max')
        const inputs = [n.input?.[0] ?? '']
        // Clip-6 defaults are the float range, which an absent input means in Clip-11 too
        if (min || max) {
          const minName = min ? names.take(`${base}_min`) : ''
          if (min) extra.push(constantNode(names, minName, makeTensor(minName, DataType.FLOAT, [], Float32Array.of(min.f ?? 0))))
          inputs.push(minName)
        }
        if (max) {
          const maxName = names.take(`${base}_max`)
          extra.push(constantNode(names, maxName, makeTensor(maxName, DataType.FLOAT, [], Float32Array.of(max.f ?? 0))))
          inputs.push(maxName)
        }
        n.input = inputs
        dropAttrs(n, ['min', 'max'])
      } else if (!n.domain && n.op_type === 'Slice' && from < 10) {
        const starts = (attr(n, 'starts')?.ints ?? []).map(int64ToNumber)
        const ends = (attr(n, 'ends')?.ints ?? []).map(int64ToNumber)
        const axesAttr = attr(n, 'axes')
        const inputs = [n.input?.[0] ?? '']
        for (const [key, values] of [['starts', starts], ['ends', ends], ...(axesAttr ? [['axes', axesAttr.ints!.map(int64ToNumber)] as const] : [])] as const) {
          const name = names.take(`${base}_${key}`)
          extra.push(constantNode(names, name, int64s(name, [...values])))
          inputs.push(name)
        }
        n.input = inputs
        dropAttrs(n, ['starts', 'ends', 'axes'])
      } else if (!n.domain && n.op_type === 'Pad' && from < 11) {
        const pads = (attr(n, 'pads')?.ints ?? []).map(int64ToNumber)
        const value = attr(n, 'value')?.f ?? 0
        const padsName = names.take(`${base}_pads`)
        const valueName = names.take(`${base}_value`)
        extra.push(constantNode(names, padsName, int64s(padsName, pads)))
        extra.push(constantNode(names, valueName, makeTensor(valueName, DataType.FLOAT, [], Float32Array.of(value))))
        n.input = [n.input?.[0] ?? '', padsName, valueName]
        dropAttrs(n, ['pads', 'value'])
      } else {
        out.push(n)
        continue
      }
      rewritten[n.op_type!] = (rewritten[n.op_type!] ?? 0) + 1
      out.push(...extra, n)
    }
    graph.node = out
  }
  for (const o of model.opset_import ?? []) if ((o.domain ?? '') === '' || o.domain === 'ai.onnx') o.version = DYNAMIC_OPSET
  return { upgrade: { from, to: DYNAMIC_OPSET, rewritten }, blockers: [] }
}

import { NameAllocator } from '../onnx/graph-walk.js'
import { AttributeType, DataType, type GraphProto, type NodeProto, type TensorProto } from '../onnx/onnx-types.js'
import { makeTensor } from '../onnx/tensor-data.js'
import { packCodes, packedCodeNodes, packs, type SharedConstant } from './packed-codes.js'
import type { ChannelQuantized } from './per-channel.js'
import { halfScales, type HalfScales } from './half-scales.js'
import { HALF_SCALE_MAX_BITS, type DecodeParams } from './weight-correction.js'
import type { WeightSite } from './weight-sites.js'

function broadcastShape(rank: number, axis: number, channels: number): number[] {
  // trailing-aligned broadcasting: [C, 1, ..., 1] with (rank - 1 - axis) ones
  return [channels, ...new Array<number>(rank - 1 - axis).fill(1)]
}

function constantNode(name: string, output: string, tensor: TensorProto): NodeProto {
  return { ...(name ? { name } : {}), op_type: 'Constant', input: [], output: [output], attribute: [{ name: 'value', type: AttributeType.TENSOR, t: tensor }] }
}

/**
 * Cast(codes) [- zeroPoint] * scale into `out`: the decode onnxruntime folds into one float
 * constant at load when its inputs are constants (see replaceWithDequantNodes).
 */
export function decodeNodes(names: NameAllocator, base: string, codes: string, scale: string, zeroPoint: string | null, out: string): NodeProto[] {
  const cast = names.take(`${base}_cast`)
  return [
    { name: names.take(`${base}_Cast`), op_type: 'Cast', input: [codes], output: [cast], attribute: [{ name: 'to', type: AttributeType.INT, i: DataType.FLOAT }] },
    ...scaleNodes(names, base, cast, scale, zeroPoint, out),
  ]
}

/** (codes [- zeroPoint]) * scale into `out`, from codes already in float. */
function scaleNodes(names: NameAllocator, base: string, codes: string, scale: string, zeroPoint: string | null, out: string): NodeProto[] {
  const nodes: NodeProto[] = []
  let value = codes
  if (zeroPoint !== null) {
    value = names.take(`${base}_shifted`)
    nodes.push({ name: names.take(`${base}_SubZeroPoint`), op_type: 'Sub', input: [codes, zeroPoint], output: [value] })
  }
  nodes.push({ name: names.take(`${base}_MulScale`), op_type: 'Mul', input: [value, scale], output: [out] })
  return nodes
}

/**
 * Cast(scale16) [* power] into `out`: float16 scales (see HALF_SCALE_MAX_BITS) made float again,
 * folded at load with the rest of the decode. Pushes the float16 tensor onto `tensors`.
 */
function halfScaleNodes(names: NameAllocator, base: string, half: HalfScales, shape: number[], out: string, tensors: TensorProto[]): NodeProto[] {
  const stored = names.take(`${base}_scale16`)
  tensors.push(makeTensor(stored, DataType.FLOAT16, shape, half.bits))
  const cast = half.power === 1 ? out : names.take(`${base}_scale_unit`)
  const nodes: NodeProto[] = [{ name: names.take(`${base}_CastScale`), op_type: 'Cast', input: [stored], output: [cast], attribute: [{ name: 'to', type: AttributeType.INT, i: DataType.FLOAT }] }]
  if (half.power !== 1) {
    const power = names.take(`${base}_scale_power`)
    tensors.push(makeTensor(power, DataType.FLOAT, [], Float32Array.of(half.power)))
    nodes.push({ name: names.take(`${base}_MulPower`), op_type: 'Mul', input: [cast, power], output: [out] })
  }
  return nodes
}

const sharedByGraph = new WeakMap<GraphProto, Map<string, string>>()

/**
 * Constants shared by the decodes of one graph, made once: a Constant node at the head of the
 * node list where the graph keeps its weights in Constant nodes (PaddleOCR), else an initializer.
 */
function sharedConstants(graph: GraphProto, asNodes: boolean, names: NameAllocator): SharedConstant {
  let made = sharedByGraph.get(graph)
  if (!made) sharedByGraph.set(graph, (made = new Map()))
  const known = made
  // keyed by form too: decode nodes of an initializer weight go to the head of the node list, where
  // a Constant node they read would come after them
  return (base, make) => {
    const key = `${asNodes ? 'node' : 'init'}:${base}`
    let name = known.get(key)
    if (name === undefined) {
      name = names.take(`pk_${base}`)
      const tensor = make(name)
      if (asNodes) (graph.node ?? (graph.node = [])).unshift(constantNode('', name, tensor))
      else (graph.initializer ?? (graph.initializer = [])).push(tensor)
      known.set(key, name)
    }
    return name
  }
}

/**
 * Replace a float weight by integer codes and the nodes that turn them back into float:
 * Cast(codes) [- zero_point] * scale, whose output keeps the weight's name so every consumer
 * reads it unchanged (9-12 bit codes: an int8 plane and packed low bits, src/quant/packed-codes.ts,
 * joined back into the same float codes). All inputs of these nodes are constants, so onnxruntime folds them into one
 * float initializer when it loads the model: inference runs the original float kernels (with their
 * fast layouts) at the original speed, while the file carries only the integers. A
 * DequantizeLinear node would not be folded (ORT keeps it for QDQ fusion) and would run on every
 * inference.
 */
export function replaceWithDequantNodes(site: WeightSite, q: ChannelQuantized, params: DecodeParams, names: NameAllocator, opset: number): void {
  const def = site.definition
  const rank = site.dims.length
  const base = site.name
  const scaleName = names.take(`${base}_scale`)
  const hasZeroPoint = params.zeroPoint.some((z) => z !== 0)
  const zpName = hasZeroPoint ? names.take(`${base}_zero_point`) : ''
  const paramShape = broadcastShape(rank, q.axis, q.scale.length)
  // 9-12 bit codes go as an int8 plane plus packed low bits where the count fills whole bytes
  const packed = q.codes instanceof Int16Array && packs(q.bits, q.codes.length, opset) ? packCodes(q.codes, q.bits) : null

  const tensors: TensorProto[] = []
  const nodes: NodeProto[] = []
  const half = q.bits <= HALF_SCALE_MAX_BITS ? halfScales(params.scale) : null
  if (half) nodes.push(...halfScaleNodes(names, base, half, paramShape, scaleName, tensors))
  // float16/bfloat16/double weights go back to their own type so consumers see what they expect
  const originalType = def.tensor.data_type ?? DataType.FLOAT
  const scaledName = originalType === DataType.FLOAT ? site.name : names.take(`${base}_scaled`)
  if (packed) {
    const floatCodes = names.take(`${base}_codes_float`)
    const unpack = packedCodeNodes(names, base, packed, site.dims, floatCodes, sharedConstants(def.graph, def.kind === 'constant', names), opset)
    tensors.push(...unpack.tensors)
    nodes.push(...unpack.nodes, ...scaleNodes(names, base, floatCodes, scaleName, hasZeroPoint ? zpName : null, scaledName))
  } else {
    const codesName = names.take(`${base}_quantized`)
    tensors.push(makeTensor(codesName, q.bits <= 8 ? DataType.INT8 : DataType.INT16, site.dims, q.codes))
    nodes.push(...decodeNodes(names, base, codesName, scaleName, hasZeroPoint ? zpName : null, scaledName))
  }
  if (!half) tensors.push(makeTensor(scaleName, DataType.FLOAT, paramShape, params.scale))
  if (hasZeroPoint) tensors.push(makeTensor(zpName, DataType.FLOAT, paramShape, params.zeroPoint))
  if (originalType !== DataType.FLOAT) {
    nodes.push({ name: names.take(`${base}_CastBack`), op_type: 'Cast', input: [scaledName], output: [site.name], attribute: [{ name: 'to', type: AttributeType.INT, i: originalType }] })
  }

  // the packed planes' Constant nodes go unnamed: a name would repeat the weight's, for nothing
  putDecodeInPlace(site, tensors, nodes, packed ? () => '' : (t) => names.take(`${t.name}_Constant`))
}

/**
 * Put a weight's decode where the weight was: its tensors as Constant nodes in its own place
 * when it was a Constant (named by `constantName`), else as initializers in its place with the
 * nodes at the head of the graph. The decode's last node outputs the weight's name.
 */
export function putDecodeInPlace(site: WeightSite, tensors: TensorProto[], nodes: NodeProto[], constantName: (t: TensorProto) => string): void {
  const def = site.definition
  const graph: GraphProto = def.graph
  const list = graph.node ?? (graph.node = [])
  if (def.kind === 'constant') {
    const at = list.indexOf(def.node)
    const constants = tensors.map((t) => constantNode(constantName(t), t.name!, t))
    list.splice(at, 1, ...constants, ...nodes)
  } else {
    const inits = graph.initializer ?? (graph.initializer = [])
    inits.splice(inits.indexOf(def.tensor), 1, ...tensors)
    list.unshift(...nodes)
    // IR < 4 exporters list initializers as graph inputs; the weight is now computed, not fed
    if (graph.input) graph.input = graph.input.filter((i) => i.name !== site.name)
  }
}

import type ort from 'onnxruntime-node'
import { decodeModelProto, encodeModelProto } from '../onnx/codec.js'
import { allGraphScopes, allNames, NameAllocator } from '../onnx/graph-walk.js'
import { AttributeType, DataType, type GraphProto, type NodeProto } from '../onnx/onnx-types.js'
import { tensorDims } from '../onnx/tensor-data.js'

/**
 * Session options that run a QDQ model as its ops define it. onnxruntime fuses
 * DequantizeLinear → op → QuantizeLinear into int8 kernels at its "extended" level; on x86 CPUs
 * without VNNI those kernels saturate 16-bit pair sums (src/runtime/int8-saturation.ts), so what
 * they compute depends on the CPU. At "basic" the Q/DQ pairs stay separate float ops (constants
 * are still folded): the same numbers on every CPU, and the ones onnxruntime-web computes
 * (PP-OCR cls FULL_QUANT: cosine 1.000000 on 8 held-out inputs, against 0.98 for the fused
 * kernels of an AVX2 EPYC).
 */
export function exactInt8Options(options: ort.InferenceSession.SessionOptions = {}): ort.InferenceSession.SessionOptions {
  return { ...options, graphOptimizationLevel: 'basic' }
}

/** Whether a graph's zero point input is one number (a scalar or a single-element tensor). */
function scalarZeroPoint(graph: GraphProto, name: string, fromDynamic: ReadonlySet<string>): boolean {
  if (name === '' || fromDynamic.has(name)) return true
  const init = (graph.initializer ?? []).find((t) => t.name === name)
  return init !== undefined && tensorDims(init).reduce((a, b) => a * b, 1) === 1
}

const castTo = (names: NameAllocator, base: string, input: string, output: string, to: DataType): NodeProto => ({
  name: names.take(`${base}_Cast`), op_type: 'Cast', input: [input], output: [output], attribute: [{ name: 'to', type: AttributeType.INT, i: to }],
})

/** `Cast(x) - Cast(zp)` in float, or just the cast without a zero point. */
function centered(names: NameAllocator, base: string, x: string, zp: string): { nodes: NodeProto[]; out: string } {
  const xf = names.take(`${base}_float`)
  const nodes = [castTo(names, base, x, xf, DataType.FLOAT)]
  if (zp === '') return { nodes, out: xf }
  const zf = names.take(`${base}_zero_point_float`)
  const out = names.take(`${base}_centered`)
  nodes.push(castTo(names, `${base}_zero_point`, zp, zf, DataType.FLOAT), { name: names.take(`${base}_Sub`), op_type: 'Sub', input: [xf, zf], output: [out] })
  return { nodes, out }
}

/**
 * The model with every MatMulInteger computed in float: (A - a_zp) and (B - b_zp) cast to float,
 * a float MatMul, cast back to int32 under the original output name. MatMulInteger's kernel is
 * the same u8 x s8 code at every optimization level, so on a CPU without VNNI "basic" alone does
 * not make a DYNAMIC_QUANT model exact. Float holds every product of uint8 and int8 exactly and
 * their sums exactly up to 2^24 (a 512-long dot product of extremes), beyond that to 1 part in
 * 2^24. For measuring only: the shipped model keeps MatMulInteger, which onnxruntime fuses into
 * its fast kernel. A MatMulInteger whose A zero point is a per-row vector is left alone (our
 * DYNAMIC_QUANT never writes one). Returns `bytes` itself when there is nothing to rewrite.
 */
export function exactInt8Twin(bytes: Uint8Array): Uint8Array {
  const model = decodeModelProto(bytes)
  let names: NameAllocator | null = null
  let rewritten = 0
  for (const { graph } of allGraphScopes(model)) {
    const list = graph.node ?? []
    if (!list.some((n) => n.op_type === 'MatMulInteger' && (n.domain ?? '') === '')) continue
    names ??= new NameAllocator(allNames(model))
    const fromDynamic = new Set(list.filter((n) => n.op_type === 'DynamicQuantizeLinear').map((n) => n.output?.[2] ?? ''))
    const out: NodeProto[] = []
    for (const n of list) {
      const [a = '', b = '', aZp = '', bZp = ''] = n.input ?? []
      if (n.op_type !== 'MatMulInteger' || (n.domain ?? '') !== '' || !scalarZeroPoint(graph, aZp, fromDynamic)) {
        out.push(n)
        continue
      }
      const base = n.name || n.output![0]!
      const left = centered(names, `${base}_a`, a, aZp)
      const right = centered(names, `${base}_b`, b, bZp)
      const product = names.take(`${base}_float_product`)
      out.push(...left.nodes, ...right.nodes,
        { name: names.take(`${base}_FloatMatMul`), op_type: 'MatMul', input: [left.out, right.out], output: [product] },
        castTo(names, `${base}_int32`, product, n.output![0]!, DataType.INT32))
      rewritten++
    }
    graph.node = out
  }
  return rewritten === 0 ? bytes : encodeModelProto(model)
}

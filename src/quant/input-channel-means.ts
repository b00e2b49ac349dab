import { decodeModelProto } from '../onnx/codec.js'
import { attr, opsetVersion, NameAllocator } from '../onnx/graph-walk.js'
import { runProbes, type ProbeNodes } from '../calibrate/graph-probes.js'
import { AttributeType, DataType, int64ToNumber, type ModelProto, type NodeProto } from '../onnx/onnx-types.js'
import { makeTensor } from '../onnx/tensor-data.js'
import type { Feeds } from '../runtime/feeds.js'
import type { PlannedWeight } from './weight-quant.js'

/** Which ops bias correction covers (src/quant/bias-correction.ts): their input's channel means are measured. */
function correctable(node: NodeProto): boolean {
  if (node.domain) return false
  if (node.op_type === 'Conv') return true
  if (node.op_type === 'Gemm') return !int64ToNumber(attr(node, 'transA')?.i)
  return node.op_type === 'MatMul'
}

/**
 * How a weight's op sees its input's channels: a Conv input is [N, C, spatial...] (its rank is
 * the weight's), a MatMul or Gemm input [rows, K] has them on the last axis.
 *
 * MatMul inputs of more than 2 dims (a sequence of tokens) are left uncorrected. Correcting them
 * on PP-OCRv4 rec at 8 bit (8 attention and MLP layers and the 6625-way head before the Softmax)
 * moved the held-out cosine from 0.999839 to 0.999744 with 4 real samples, and the default
 * data-free result from 0.999952 to 0.999877, below the target; the head alone made the
 * difference. At 6 bit it helped (0.99494 to 0.99568). Before the means were taken in the
 * graph, such inputs were read on the wrong axis and skipped as a mismatch, or corrected with
 * the wrong means where the token count equalled K.
 */
type Reduction = { kind: 'conv'; rank: number } | { kind: 'rows' }

function reductionFor(w: PlannedWeight): Reduction {
  return w.site.uses[0]!.node.op_type === 'Conv' ? { kind: 'conv', rank: w.site.dims.length } : { kind: 'rows' }
}

/**
 * Mean of every input channel feeding the planned weights' ops, over the samples. The means are
 * taken inside the graph: each input gets a ReduceMean to one value per channel, exposed as an
 * output. Exposing the activations themselves held them all at once (PP-OCRv4 det on 320x320
 * inputs: 100 MB of outputs a run, and the peak RSS of the whole 8-bit quantization), and read
 * the channels of a 3-D MatMul input off the wrong axis. The reductions go in through
 * withProbes, which runs each as soon as its input exists: appended in graph order they ran
 * after the whole network and kept every input alive (det, 4 samples at 640x640: peak RSS 291
 * MB over the baseline, 150 MB placed).
 */
export async function inputChannelMeans(model: ModelProto, original: Uint8Array, planned: PlannedWeight[], samples: Feeds[]): Promise<Map<PlannedWeight, Float64Array>> {
  const means = new Map<PlannedWeight, Float64Array>()
  if (samples.length === 0) return means
  const mainNodes = new Set(model.graph?.node ?? [])
  const copy = decodeModelProto(original)
  const opset = opsetVersion(copy)
  const names = NameAllocator.forModel(copy)
  const probes: ProbeNodes = { nodes: [], inits: [] }
  // one reduction per input and layout, shared by the weights that read it alike
  const reduced = new Map<string, string>()
  const outputOf = new Map<PlannedWeight, string>()
  for (const w of planned) {
    const use = w.site.uses[0]!
    if (w.site.uses.length !== 1 || use.reordered || use.inputIndex !== 1 || !mainNodes.has(use.node) || !correctable(use.node)) continue
    const x = use.node.input?.[0]
    if (!x) continue
    const r = reductionFor(w)
    const key = `${r.kind === 'conv' ? `conv${r.rank}` : 'rows'}:${x}`
    let out = reduced.get(key)
    if (!out) reduced.set(key, (out = addChannelMean(probes, names, opset, x, r)))
    outputOf.set(w, out)
  }
  if (reduced.size === 0) return means
  const fetch = [...reduced.values()]
  const sums = new Map<string, Float64Array>()
  await runProbes(copy, probes, fetch, samples, (out) => {
    for (const name of fetch) {
      const t = out[name]
      // a MatMul input of more than 2 dims reduces to [tokens, K]: not corrected (see Reduction)
      if (!t || !(t.data instanceof Float32Array) || t.dims.length !== 1) continue
      let acc = sums.get(name)
      if (!acc) sums.set(name, (acc = new Float64Array(t.data.length)))
      if (acc.length !== t.data.length) continue
      for (let c = 0; c < acc.length; c++) acc[c] += t.data[c]! / samples.length
    }
  })
  for (const [w, name] of outputOf) {
    const m = sums.get(name)
    if (m) means.set(w, m)
  }
  return means
}

/** Adds the probe that reduces `x` to one mean per channel; returns its output. */
function addChannelMean(probes: ProbeNodes, names: NameAllocator, opset: number, x: string, r: Reduction): string {
  // a [rows, K] input reduces to [K]; a longer one to more than one dim, which the caller skips
  const axes = r.kind === 'conv' ? [0, ...Array.from({ length: r.rank - 2 }, (_, i) => i + 2)] : [0]
  const out = names.take(`${x}_channel_mean`)
  const keepdims = { name: 'keepdims', type: AttributeType.INT, i: 0 }
  // ReduceMean takes its axes as an input from opset 18 on, as an attribute before
  if (opset >= 18) {
    const axesName = names.take(`${x}_channel_mean_axes`)
    probes.inits.push(makeTensor(axesName, DataType.INT64, [axes.length], BigInt64Array.from(axes.map(BigInt))))
    probes.nodes.push({ name: names.take(`${x}_channel_mean_reduce`), op_type: 'ReduceMean', input: [x, axesName], output: [out], attribute: [keepdims] })
  } else {
    probes.nodes.push({ name: names.take(`${x}_channel_mean_reduce`), op_type: 'ReduceMean', input: [x], output: [out], attribute: [{ name: 'axes', type: AttributeType.INTS, ints: axes }, keepdims] })
  }
  return out
}

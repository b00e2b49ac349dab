import { AttributeType, DataType, type NodeProto, type TensorProto } from '../../src/onnx/onnx-types.js'
import { makeTensor } from '../../src/onnx/tensor-data.js'
import { buildModel, node, randomTensor, valueInfo } from './build-model.js'

/**
 * A BERT-style encoder with seeded random weights, shaped like TinyBERT (4 layers, hidden 312,
 * 12 heads, intermediate 1200, sequence 128) unless told otherwise: no real transformer ships in
 * a package here. Word embedding Gather + position embedding, then per layer Q/K/V MatMul + bias,
 * scaled-dot-product attention, output MatMul, residual + LayerNorm, Erf-GELU feed-forward,
 * residual + LayerNorm. LayerNorm is spelled out in primitive ops (as exporters before opset 17
 * do) so the graph runs at opset 13. Input `input_ids` int64 [1, seq]; output `last_hidden_state`.
 */
export interface TransformerShape {
  /** @default 4 */
  layers?: number
  /** @default 312 */
  hidden?: number
  /** @default 12 */
  heads?: number
  /** @default 1200 */
  intermediate?: number
  /** @default 128 */
  sequence?: number
  /** Word-embedding rows. @default 30522 */
  vocab?: number
  /** @default 1 */
  seed?: number
}

export const TINYBERT: Required<TransformerShape> = { layers: 4, hidden: 312, heads: 12, intermediate: 1200, sequence: 128, vocab: 30522, seed: 1 }

function scalar(name: string, v: number): TensorProto {
  return makeTensor(name, DataType.FLOAT, [], Float32Array.of(v))
}

function ints(name: string, values: number[]): TensorProto {
  return makeTensor(name, DataType.INT64, [values.length], BigInt64Array.from(values.map(BigInt)))
}

function filled(name: string, n: number, v: number): TensorProto {
  return makeTensor(name, DataType.FLOAT, [n], new Float32Array(n).fill(v))
}

function withInts(n: NodeProto, name: string, values: number[]): NodeProto {
  n.attribute = [...(n.attribute ?? []), { name, type: AttributeType.INTS, ints: values }]
  return n
}

export function buildTransformer(shape: TransformerShape = {}): Uint8Array {
  const s = { ...TINYBERT, ...shape }
  const { hidden: H, heads, intermediate: I, sequence: S } = s
  const headDim = H / heads
  if (!Number.isInteger(headDim)) throw new Error(`hidden ${H} is not a multiple of heads ${heads}`)
  let seed = s.seed * 1000
  const next = () => ++seed
  // weight spread ~ 1/sqrt(fan_in), so activations keep their scale through the layers
  const w = (name: string, dims: number[]) => randomTensor(name, dims, next(), 2 / Math.sqrt(dims[0]!))
  const nodes: NodeProto[] = []
  const inits: TensorProto[] = [
    randomTensor('word_embeddings', [s.vocab, H], next(), 1),
    randomTensor('position_embeddings', [1, S, H], next(), 0.5),
    scalar('ln_eps', 1e-12), scalar('two', 2), scalar('half', 0.5), scalar('one', 1), scalar('sqrt2', Math.SQRT2),
    scalar('attn_scale', Math.sqrt(headDim)),
    ints('split_heads', [0, 0, heads, headDim]), ints('merge_heads', [0, 0, H]),
  ]
  const layerNorm = (x: string, p: string): string => {
    inits.push(filled(`${p}_gamma`, H, 1), randomTensor(`${p}_beta`, [H], next(), 0.02))
    nodes.push(withInts(node('ReduceMean', [x], [`${p}_mean`]), 'axes', [-1]))
    nodes.push(node('Sub', [x, `${p}_mean`], [`${p}_centered`]))
    nodes.push(node('Pow', [`${p}_centered`, 'two'], [`${p}_sq`]))
    nodes.push(withInts(node('ReduceMean', [`${p}_sq`], [`${p}_var`]), 'axes', [-1]))
    nodes.push(node('Add', [`${p}_var`, 'ln_eps'], [`${p}_var_eps`]))
    nodes.push(node('Sqrt', [`${p}_var_eps`], [`${p}_std`]))
    nodes.push(node('Div', [`${p}_centered`, `${p}_std`], [`${p}_norm`]))
    nodes.push(node('Mul', [`${p}_norm`, `${p}_gamma`], [`${p}_scaled`]))
    nodes.push(node('Add', [`${p}_scaled`, `${p}_beta`], [`${p}_out`]))
    return `${p}_out`
  }
  const dense = (x: string, p: string, k: number, n: number): string => {
    inits.push(w(`${p}_weight`, [k, n]), randomTensor(`${p}_bias`, [n], next(), 0.02))
    nodes.push(node('MatMul', [x, `${p}_weight`], [`${p}_mm`]))
    nodes.push(node('Add', [`${p}_mm`, `${p}_bias`], [`${p}_out`]))
    return `${p}_out`
  }
  nodes.push(node('Gather', ['word_embeddings', 'input_ids'], ['words']))
  nodes.push(node('Add', ['words', 'position_embeddings'], ['embedded']))
  let x = layerNorm('embedded', 'emb_ln')
  for (let l = 0; l < s.layers; l++) {
    const p = `layer${l}`
    const heads4 = (t: string, perm: number[]): string => {
      nodes.push(node('Reshape', [t, 'split_heads'], [`${t}_heads`]))
      nodes.push(withInts(node('Transpose', [`${t}_heads`], [`${t}_t`]), 'perm', perm))
      return `${t}_t`
    }
    const q = heads4(dense(x, `${p}_query`, H, H), [0, 2, 1, 3])
    const k = heads4(dense(x, `${p}_key`, H, H), [0, 2, 3, 1])
    const v = heads4(dense(x, `${p}_value`, H, H), [0, 2, 1, 3])
    nodes.push(node('MatMul', [q, k], [`${p}_scores`]))
    nodes.push(node('Div', [`${p}_scores`, 'attn_scale'], [`${p}_scaled_scores`]))
    nodes.push(node('Softmax', [`${p}_scaled_scores`], [`${p}_probs`], { axis: -1 }))
    nodes.push(node('MatMul', [`${p}_probs`, v], [`${p}_context`]))
    nodes.push(withInts(node('Transpose', [`${p}_context`], [`${p}_context_t`]), 'perm', [0, 2, 1, 3]))
    nodes.push(node('Reshape', [`${p}_context_t`, 'merge_heads'], [`${p}_merged`]))
    const attnOut = dense(`${p}_merged`, `${p}_attn_out`, H, H)
    nodes.push(node('Add', [attnOut, x], [`${p}_attn_res`]))
    const h = layerNorm(`${p}_attn_res`, `${p}_attn_ln`)
    const up = dense(h, `${p}_ffn_up`, H, I)
    // GELU(x) = 0.5 x (1 + erf(x / sqrt 2))
    nodes.push(node('Div', [up, 'sqrt2'], [`${p}_gelu_div`]))
    nodes.push(node('Erf', [`${p}_gelu_div`], [`${p}_gelu_erf`]))
    nodes.push(node('Add', [`${p}_gelu_erf`, 'one'], [`${p}_gelu_add`]))
    nodes.push(node('Mul', [up, `${p}_gelu_add`], [`${p}_gelu_mul`]))
    nodes.push(node('Mul', [`${p}_gelu_mul`, 'half'], [`${p}_gelu`]))
    const down = dense(`${p}_gelu`, `${p}_ffn_down`, I, H)
    nodes.push(node('Add', [down, h], [`${p}_ffn_res`]))
    x = layerNorm(`${p}_ffn_res`, `${p}_ffn_ln`)
  }
  nodes.push(node('Identity', [x], ['last_hidden_state']))
  return buildModel({
    nodes, initializers: inits, opset: 13,
    inputs: [valueInfo('input_ids', DataType.INT64, [1, S])],
    outputs: [valueInfo('last_hidden_state', DataType.FLOAT, [1, S, H])],
  })
}

/** Token ids for the encoder: seeded, uniform over the vocabulary. */
export function tokenIds(seed: number, shape: TransformerShape = {}): BigInt64Array {
  const s = { ...TINYBERT, ...shape }
  let state = seed >>> 0
  const out = new BigInt64Array(s.sequence)
  for (let i = 0; i < s.sequence; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    out[i] = BigInt(state % s.vocab)
  }
  return out
}

import { attr } from '../onnx/graph-walk.js'
import { DataType, int64ToNumber, type NodeProto } from '../onnx/onnx-types.js'

/** Op types whose constant weight inputs are quantized, and which inputs those are. */
export const WEIGHT_OPS: Record<string, readonly number[]> = {
  // MatMul's first input too: a constant on the left (W @ x, as in a mel filterbank) is a weight
  // whose rows are the output rows
  Conv: [1], ConvTranspose: [1], MatMul: [0, 1], Gemm: [1], Gather: [0],
  // Our extension beyond the format's list: recurrent weights W and R ([dirs, gates*hidden, in]).
  // They hold most of silero VAD's bytes, and the decode folds at load like any other weight.
  LSTM: [1, 2], GRU: [1, 2], RNN: [1, 2],
}

/** The axis whose slices get their own scale when `node` reads a rank-`rank` weight at `inputIndex`; null for other ops. */
export function channelAxisFor(node: NodeProto, rank: number, inputIndex: number): number | null {
  switch (node.op_type) {
    case 'Conv': return 0
    case 'ConvTranspose': return 1
    case 'MatMul': return inputIndex === 0 ? rank - 2 : rank - 1
    case 'Gemm': return int64ToNumber(attr(node, 'transB')?.i) ? 0 : 1
    case 'LSTM':
    case 'GRU':
    case 'RNN':
      return 1
    case 'Gather': {
      const axis = int64ToNumber(attr(node, 'axis')?.i)
      return axis < 0 ? axis + rank : axis
    }
    default: return null
  }
}

const FLOAT_TYPES: ReadonlySet<number> = new Set([DataType.FLOAT, DataType.FLOAT16, DataType.DOUBLE, DataType.BFLOAT16])

/** Whether an ONNX data type is one of the float types weights are stored in. */
export function isFloatType(type: number | undefined): boolean {
  return FLOAT_TYPES.has(type ?? 0)
}

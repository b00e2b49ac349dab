import type ort from 'onnxruntime-node'
import type { FedTensor, ReferenceOutputs } from './variant-score.js'

/** An onnxruntime tensor as structured clone carries it (ort.Tensor instances lose their class). */
export interface PlainTensor {
  type: ort.Tensor.Type
  data: ort.Tensor.DataType
  dims: readonly number[]
}
export type PlainFeeds = Record<string, PlainTensor>

export type ScoreRequest =
  | { type: 'init'; model: Uint8Array; floats: Record<string, FedTensor>; samples: PlainFeeds[]; reference: ReferenceOutputs }
  | { type: 'score'; id: number; changed: Record<string, Float32Array>; count: number }

export type ScoreReply =
  | { type: 'scored'; id: number; score: number }
  | { type: 'failed'; id: number; message: string }

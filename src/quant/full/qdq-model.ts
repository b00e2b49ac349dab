import { allNames, opsetVersion, NameAllocator } from '../../onnx/graph-walk.js'
import type { ModelProto } from '../../onnx/onnx-types.js'
import type { DeviceProfile } from './device-profile.js'
import { indexGraph, type GraphIndex } from './graph-index.js'
import { exposedNames, type Exposure } from '../../onnx/exposed-constants.js'
import type { OpPolicy } from './op-policy.js'
import { raiseOpset } from '../opset-upgrade.js'
import { guardFloatInputs } from './float-input-guard.js'
import { planQdq, type QdqPlan } from './qdq-plan.js'
import { rewriteQdq, type BiasShift, type RewrittenWeight } from './qdq-rewrite.js'
import { activationParams, type QuantParams, type ValueRange } from './quant-params.js'

export interface QdqSettings {
  profile: DeviceProfile
  policy: OpPolicy
  skipQuantNode: ReadonlySet<string>
}

/** A float model prepared for QDQ: lifted to the opset it needs and planned, not yet rewritten. */
export interface PreparedQdq {
  model: ModelProto
  index: GraphIndex
  plan: QdqPlan
  names: NameAllocator
  /** The profile actually used (per-tensor weights when the opset could not be lifted). */
  profile: DeviceProfile
  /** Set when the model was lifted to opset 13 (from this version). */
  upgradedFrom: number | null
  warnings: string[]
}

export class QdqUnsupportedError extends Error {
  override name = 'QdqUnsupportedError'
}

/**
 * Lift the model to opset 13 when per-channel weights need it (DequantizeLinear's axis), then
 * decide what runs quantized. Without a possible lift the weights go per tensor, with a warning;
 * below opset 10 there is no QuantizeLinear at all. `exposed`: the names a caller sees
 * (exposedNames), read before any fold changed the model.
 */
export function prepareQdq(model: ModelProto, settings: QdqSettings, exposed: ReadonlyMap<string, Exposure> = exposedNames(model)): PreparedQdq {
  const names = new NameAllocator(allNames(model))
  const warnings: string[] = []
  let profile = settings.profile
  const version = opsetVersion(model)
  let upgradedFrom: number | null = null
  if (version < 13) {
    const up = raiseOpset(model, 13, names)
    if (up.upgrade) upgradedFrom = version
    else if (version < 10) throw new QdqUnsupportedError(`FULL_QUANT needs opset 10 or later (QuantizeLinear); this model is opset ${version} and uses ${up.blockers.join(', ')}, which cannot be lifted`)
    else if (profile.perChannelWeights) {
      profile = { ...profile, perChannelWeights: false }
      warnings.push(`weights quantized per tensor: per-channel DequantizeLinear needs opset 13 and this opset-${version} model uses ${up.blockers.join(', ')}, which cannot be lifted`)
    }
  }
  const graph = model.graph
  if (!graph) throw new QdqUnsupportedError('the model has no graph')
  const index = indexGraph(graph, exposed)
  const plan = planQdq(index, settings)
  return { model, index, plan, names, profile, upgradedFrom, warnings }
}

/** Activation parameters for every planned tensor that has its own range. */
export function activationQuantParams(prepared: PreparedQdq, ranges: ReadonlyMap<string, ValueRange>): Map<string, QuantParams> {
  const params = new Map<string, QuantParams>()
  const { activationType, symmetricActivations } = prepared.profile
  for (const name of prepared.plan.rangeTensors) {
    const r = ranges.get(name)
    if (!r) throw new Error(`calibration gave no range for tensor '${name}'`)
    params.set(name, activationParams(r, activationType, symmetricActivations))
  }
  return params
}

/** Rewrite the prepared model in QDQ form in place. */
export function applyQdq(prepared: PreparedQdq, params: Map<string, QuantParams>, shift: BiasShift | null): RewrittenWeight[] {
  const rewritten = rewriteQdq(prepared.index, prepared.plan, params, prepared.profile, prepared.names, shift)
  if (opsetVersion(prepared.model) >= 13) {
    const decoded = new Map(rewritten.filter((r) => Number.isNaN(r.inputScale)).map((r) => [r.q.node.input![1]!, r.dims]))
    guardFloatInputs(prepared.index.graph, prepared.names, decoded)
  }
  return rewritten
}

import type { TargetDevice } from '../../cfg/index.js'
import { DataType } from '../../onnx/onnx-types.js'

/**
 * How activations and weights are encoded for one `target_device`. Each profile follows the
 * format's own device settings (MindSpore Lite's full quantizer, InitCpuConfig /
 * InitNvGpuConfig / InitDSPConfig) except where the README, "How FULL_QUANT works", gives a
 * measured reason to differ:
 * - CPU (default): uint8 asymmetric activations (the format: int8), int8 symmetric weights per
 *   channel; with per_channel=false int8 asymmetric per tensor, the format's per-layer weights
 *   (QLinearConv takes one weight zero point, so only per-tensor weights can have one).
 *   onnxruntime's x86 kernels take uint8
 *   activations with int8 weights (u8s8); int8 activations are converted to uint8 at load by a
 *   pass that skips every Q/DQ pair whose DequantizeLinear has several readers, which left 38 of
 *   PP-OCRv4 det's 62 convs unfused (measured; README). A Relu after a conv disappears into the
 *   output's zero point (0), which a symmetric encoding would not allow.
 * - NVGPU: int8 symmetric activations and weights, every zero point 0: TensorRT's explicit
 *   quantization accepts only zero points of 0 and reads the Q/DQ scales as they are. Weights
 *   per channel and bias correction as the cfg says (the format's NVGPU cfg recommends both;
 *   MindSpore's source turns both off for NVGPU, README).
 * - DSP: the format's DSP settings: int8 asymmetric activations; int8 weights, symmetric per
 *   channel for convolutions and asymmetric per tensor for every other weighted op (MatMul,
 *   Gemm) and, with per_channel=false, for convolutions too (MindSpore's per-layer weights).
 */
export interface DeviceProfile {
  device: TargetDevice
  activationType: DataType.INT8 | DataType.UINT8
  symmetricActivations: boolean
  weightType: DataType.INT8 | DataType.UINT8
  /** The cfg's per_channel (false also when the opset cannot carry a per-channel DequantizeLinear). */
  perChannelWeights: boolean
  /** Op types whose weights take one scale per output channel when perChannelWeights. */
  perChannelOps: ReadonlySet<string>
  /** Per-channel weights: symmetric (zero point 0) or not. */
  symmetricWeights: boolean
  /** Weights with one scale for the tensor: symmetric or not. */
  symmetricTensorWeights: boolean
}

/** How one op's weight is encoded under a profile. */
export interface WeightForm {
  type: DataType.INT8 | DataType.UINT8
  perChannel: boolean
  symmetric: boolean
}

const ALL_WEIGHTED: ReadonlySet<string> = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul'])
const CONVOLUTIONS: ReadonlySet<string> = new Set(['Conv', 'ConvTranspose'])

export function deviceProfile(device: TargetDevice, perChannel: boolean): DeviceProfile {
  switch (device) {
    case 'NVGPU':
      return { device, activationType: DataType.INT8, symmetricActivations: true, weightType: DataType.INT8, perChannelWeights: perChannel, perChannelOps: ALL_WEIGHTED, symmetricWeights: true, symmetricTensorWeights: true }
    case 'DSP':
      return { device, activationType: DataType.INT8, symmetricActivations: false, weightType: DataType.INT8, perChannelWeights: perChannel, perChannelOps: CONVOLUTIONS, symmetricWeights: true, symmetricTensorWeights: false }
    default:
      return { device: 'CPU', activationType: DataType.UINT8, symmetricActivations: false, weightType: DataType.INT8, perChannelWeights: perChannel, perChannelOps: ALL_WEIGHTED, symmetricWeights: true, symmetricTensorWeights: false }
  }
}

export function weightForm(profile: DeviceProfile, op: string): WeightForm {
  const perChannel = profile.perChannelWeights && profile.perChannelOps.has(op)
  return { type: profile.weightType, perChannel, symmetric: perChannel ? profile.symmetricWeights : profile.symmetricTensorWeights }
}

/** The integer range of a quantized element type. */
export function integerRange(type: DataType.INT8 | DataType.UINT8): { qmin: number; qmax: number } {
  return type === DataType.INT8 ? { qmin: -128, qmax: 127 } : { qmin: 0, qmax: 255 }
}

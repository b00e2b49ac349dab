import type { TargetDevice } from '../../cfg/index.js'
import { DataType } from '../../onnx/onnx-types.js'

/**
 * How activations and weights are encoded for one `target_device`. Each profile is the form the
 * named runtime executes with integer kernels (see README, "How FULL_QUANT works"):
 * - CPU (default): uint8 asymmetric activations, int8 symmetric weights per channel (per tensor
 *   with per_channel=false). onnxruntime's x86 kernels take uint8 activations with int8 weights
 *   (u8s8); int8 activations are converted to uint8 at load by a pass that skips every Q/DQ pair
 *   whose DequantizeLinear has several readers, which left 38 of PP-OCRv4 det's 62 convs unfused
 *   (measured; README). A Relu after a conv disappears into the output's zero point (0), which a
 *   symmetric encoding would not allow.
 * - NVGPU: int8 symmetric activations and weights, every zero point 0: TensorRT's explicit
 *   quantization accepts only zero points of 0 and reads the Q/DQ scales as they are.
 * - DSP: uint8 asymmetric activations and per-tensor weights: fixed-point DSP libraries
 *   (Hexagon-style) take one scale per tensor and unsigned activations.
 */
export interface DeviceProfile {
  device: TargetDevice
  activationType: DataType.INT8 | DataType.UINT8
  symmetricActivations: boolean
  weightType: DataType.INT8 | DataType.UINT8
  symmetricWeights: boolean
  perChannelWeights: boolean
}

export function deviceProfile(device: TargetDevice, perChannel: boolean): DeviceProfile {
  switch (device) {
    case 'NVGPU':
      return { device, activationType: DataType.INT8, symmetricActivations: true, weightType: DataType.INT8, symmetricWeights: true, perChannelWeights: perChannel }
    case 'DSP':
      return { device, activationType: DataType.UINT8, symmetricActivations: false, weightType: DataType.UINT8, symmetricWeights: false, perChannelWeights: false }
    default:
      return { device: 'CPU', activationType: DataType.UINT8, symmetricActivations: false, weightType: DataType.INT8, symmetricWeights: true, perChannelWeights: perChannel }
  }
}

/** The integer range of a quantized element type. */
export function integerRange(type: DataType.INT8 | DataType.UINT8): { qmin: number; qmax: number } {
  return type === DataType.INT8 ? { qmin: -128, qmax: 127 } : { qmin: 0, qmax: 255 }
}

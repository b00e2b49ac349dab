import { int8DotSaturates } from '../../src/runtime/int8-saturation.js'

/**
 * Whether onnxruntime-node's int8 kernels saturate on this CPU (x86 without VNNI,
 * src/runtime/int8-saturation.ts). Accuracy is measured with the int8 ops run as they define
 * them (src/runtime/exact-int8.ts), the same on every CPU; only checks of the kernels themselves
 * (and of the warning the report gives about them) depend on this.
 */
export const INT8_SATURATES = int8DotSaturates()

import fs from 'node:fs'

let cached: boolean | null = null

/**
 * Whether onnxruntime's int8 kernels on this CPU can saturate: x86 without VNNI multiplies
 * uint8 activations by int8 weights with an instruction (pmaddubsw) that clamps each pair's sum
 * to 16 bits, a known limit of such CPUs (OpenVINO documents the same "saturation issue"). Measured
 * on an AVX2-only EPYC: PP-OCR cls FULL_QUANT held-out cosine 0.94-0.95 against 0.97+ on AVX-512
 * VNNI, and 0.78 between onnxruntime-node and onnxruntime-web. Read from /proc/cpuinfo; elsewhere
 * (not Linux, not x64) taken as false, since nothing says so.
 */
export function int8DotSaturates(): boolean {
  if (cached !== null) return cached
  cached = false
  if (process.arch !== 'x64' || process.platform !== 'linux') return cached
  try {
    const flags = /^flags\s*:(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? ''
    cached = flags !== '' && !/\b(avx512_vnni|avx_vnni|amx_int8)\b/.test(flags)
  } catch {
    cached = false
  }
  return cached
}

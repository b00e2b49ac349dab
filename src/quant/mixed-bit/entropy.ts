/** Shannon entropy in bits per value of a tensor's integer codes: what an ideal coder would spend. */
export function codeEntropy(codes: Int8Array | Int16Array): number {
  const n = codes.length
  if (n === 0) return 0
  const offset = codes instanceof Int8Array ? 128 : 32768
  const counts = new Uint32Array(offset * 2)
  for (let i = 0; i < n; i++) counts[codes[i]! + offset]!++
  let bits = 0
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!
    if (c) {
      const p = c / n
      bits -= p * Math.log2(p)
    }
  }
  return bits
}

import fs from 'node:fs'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { downloadSizes } from '../src/report/sizes.js'
import { MODELS } from './helpers/models.js'

// The report counts compressed bytes as they stream past instead of keeping them; the counts must
// be the lengths zlib's one-shot API produces with the same settings.

const brotli = (bytes: Uint8Array, quality: number) => brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: quality, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength } }).byteLength

describe('download sizes', () => {
  it('are the gzip (level 6) and brotli (quality 5) lengths of every part, summed', async () => {
    const model = fs.readFileSync(MODELS.cls)
    const text = new TextEncoder().encode('weights '.repeat(5000))
    const empty = new Uint8Array(0)
    const parts = [model, text, empty]
    const sizes = await downloadSizes(parts)
    expect(sizes.raw).toBe(model.byteLength + text.byteLength)
    expect(sizes.gzip).toBe(parts.reduce((n, p) => n + gzipSync(p, { level: 6 }).byteLength, 0))
    expect(sizes.brotli).toBe(parts.reduce((n, p) => n + brotli(p, 5), 0))
    // a repetitive part compresses, float weights barely do
    expect(brotli(text, 5)).toBeLessThan(text.byteLength / 50)
    expect(sizes.gzip).toBeGreaterThan(model.byteLength * 0.7)
  })

  it('follow the quality asked for (the benchmark uses 11)', async () => {
    const bytes = fs.readFileSync(MODELS.sileroLegacy).subarray(0, 100_000)
    const [q5, q11] = await Promise.all([downloadSizes([bytes]), downloadSizes([bytes], 11)])
    expect(q11.brotli).toBe(brotli(bytes, 11))
    expect(q11.brotli).toBeLessThan(q5.brotli)
    expect(q11.gzip).toBe(q5.gzip)
  })
})

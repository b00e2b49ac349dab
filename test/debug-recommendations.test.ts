// The debug report's skip_quant_node recommendations, on layer summaries written here: each of
// the three kinds at its threshold and just short of it, and which nodes may be listed at all.
import { describe, expect, it } from 'vitest'
import type { LayerDebug } from '../src/report/debug-csv/debug-summary.js'
import { HIGH_CLIP, LOW_COSINE, RANGE_RATIO, recommend } from '../src/report/debug-csv/recommendations.js'

function layer(node: string, extra: Partial<LayerDebug> = {}): LayerDebug {
  return {
    node, opType: 'Conv', tensor: `${node}_out`, cosine: 1, inputCosine: 1, clip: 0, gridClip: 0, bits: 8,
    quantized: true, weight: `${node}_w`, inputRanges: [], ...extra,
  }
}
const full = { quantType: 'FULL_QUANT' as const, skipQuantNode: [] }
const kinds = (layers: LayerDebug[], options: Parameters<typeof recommend>[1] = full): string[] =>
  recommend(layers, options).recommendations.map((r) => `${r.kind} ${r.node}`)

describe('debug recommendations', () => {
  it('clip: at 1% of values off the grid and above, not below', () => {
    expect(HIGH_CLIP).toBe(0.01)
    expect(kinds([layer('at', { gridClip: 0.01 }), layer('above', { gridClip: 0.2 }), layer('below', { gridClip: 0.0099 }), layer('formatClip', { clip: 0.5, gridClip: 0 })]))
      .toEqual(['clip at', 'clip above'])
  })

  it('range mismatch: an Add or Concat whose input spans differ 16 times or more, under FULL_QUANT only', () => {
    expect(RANGE_RATIO).toBe(16)
    const merge = (node: string, opType: string, wide: number) => layer(node, { opType, inputRanges: [{ tensor: 'a', min: -0.5, max: 0.5 }, { tensor: 'b', min: 0, max: wide }] })
    const layers = [merge('at', 'Add', 16), merge('concat', 'Concat', 40), merge('below', 'Add', 15.9), merge('mul', 'Mul', 100), layer('one', { opType: 'Add', inputRanges: [{ tensor: 'a', min: 0, max: 100 }] })]
    expect(kinds(layers)).toEqual(['range-mismatch at', 'range-mismatch concat'])
    expect(recommend(layers, full).recommendations[0]!.reason).toBe('input ranges differ 16x: a [-0.5, 0.5] vs b [0, 16]')
    // activations stay float in the other modes
    expect(kinds(layers, { quantType: 'WEIGHT_QUANT', skipQuantNode: [] })).toEqual([])
  })

  it('low cosine: below 0.99 where the node itself loses accuracy, worst first, at most 10', () => {
    expect(LOW_COSINE).toBe(0.99)
    const layers = [
      layer('at', { cosine: 0.99, inputCosine: 1 }),
      layer('inherited', { cosine: 0.95, inputCosine: 0.95 }),
      ...Array.from({ length: 12 }, (_, i) => layer(`low${i}`, { cosine: 0.98 - i * 0.01, inputCosine: 1 })),
    ]
    // low11 lost the most, low0 the least: the 10 worst are low11 .. low2
    expect(kinds(layers)).toEqual(Array.from({ length: 10 }, (_, i) => `low-cosine low${11 - i}`))
    // under the cap: the threshold and the loss inherited from the input decide alone
    expect(kinds([layer('at', { cosine: 0.99, inputCosine: 1 }), layer('inherited', { cosine: 0.95, inputCosine: 0.95 }), layer('just', { cosine: 0.9899, inputCosine: 1 })]))
      .toEqual(['low-cosine just'])
  })

  it('only nodes a skip_quant_node entry changes, not those listed already; the cfg line adds to the cfg\'s own list', () => {
    const layers = [layer('float', { gridClip: 0.5, quantized: false }), layer('listed', { gridClip: 0.5 }), layer('new', { gridClip: 0.5 }), layer('a,b', { gridClip: 0.5 })]
    const r = recommend(layers, { quantType: 'WEIGHT_QUANT', skipQuantNode: ['listed'] })
    expect(r.recommendations.map((x) => [x.node, x.line])).toEqual([['new', 'skip_quant_node=listed,new'], ['a,b', null]])
    expect(r.recommendations[1]!.reason).toMatch(/its name contains a comma/)
    expect(r.skipLine).toBe('skip_quant_node=listed,new')
    expect(recommend([layer('fine')], full).skipLine).toBeNull()
  })
})

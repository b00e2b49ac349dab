import fs from 'node:fs'
import type ort from 'onnxruntime-node'
import { OCR_KEYS } from './models.js'

/** PP-OCR's dictionary: class 0 is the CTC blank, then one line per character, then a space. */
export function loadOcrKeys(): string[] {
  const keys = fs.readFileSync(OCR_KEYS, 'utf8').split(/\r?\n/)
  if (keys.at(-1) === '') keys.pop()
  return ['', ...keys, ' ']
}

/** Greedy CTC: the best class per time step, repeats merged, blanks dropped. Output [1, T, C]. */
export function greedyCtc(probs: ort.Tensor, keys: readonly string[]): string {
  const [, steps, classes] = probs.dims as [number, number, number]
  const data = probs.data as Float32Array
  let text = ''
  let prev = -1
  for (let t = 0; t < steps; t++) {
    let best = 0
    for (let c = 1; c < classes; c++) if (data[t * classes + c]! > data[t * classes + best]!) best = c
    if (best !== prev && best !== 0) text += keys[best] ?? '?'
    prev = best
  }
  return text
}

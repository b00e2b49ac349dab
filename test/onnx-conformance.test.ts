// Conformance of the codec against a suite no one here wrote: the ONNX backend test data. Every
// model must decode and re-encode, and wherever onnxruntime runs the original, the re-encoded
// model must give bit-identical outputs on the suite's inputs.
import fs from 'node:fs'
import path from 'node:path'
import type ort from 'onnxruntime-node'
import { beforeAll, describe, expect, it } from 'vitest'
import { decodeModelProto, decodeTensorProto, encodeModelProto } from '../src/onnx/codec.js'
import { loadModel } from '../src/onnx/model-file.js'
import type { ModelProto, TypeProto } from '../src/onnx/onnx-types.js'
import { type Outputs, closeToReference, outputsDifference, runOnce, tensorProtoToOrt } from './helpers/ort-run.js'
import { type OnnxTestdata, ensureOnnxTestdata } from './setup/onnx-testdata.js'

// ORT 1.30 ran and matched 959 of the 1,072 models when this was written; the floor catches a
// harness that quietly stops running models (wrong feeds, a broken loader) while letting an ORT
// upgrade drop a few.
const MIN_RAN = 900
// ORT's own outputs agreed with the suite's reference outputs (onnx's tolerances) on 959: a check
// that the harness feeds the right inputs, since a wrong feed would still match itself.
const MIN_AGREE = 900

interface DataSet {
  inputs: ort.Tensor[]
  /** input names from the .pb files; '' where a file has none (then fed by position) */
  names: string[]
  expected: Array<ort.Tensor | null>
  expectedNames: string[]
}

interface Counts {
  models: number
  roundTripped: number
  byteIdentical: number
  nonTensorIO: number
  unsupportedType: number
  ortCantRun: number
  ran: number
  matched: number
  nondeterministic: number
  agreesWithReference: number
}

function isTensorType(t: TypeProto | undefined): boolean {
  return !t || t.value === 'tensor_type' || (!t.value && !!t.tensor_type)
}

/** Graph inputs/outputs that are sequences, maps or optionals: their .pb files are not TensorProtos. */
function hasNonTensorIO(model: ModelProto): boolean {
  const g = model.graph
  return [...(g?.input ?? []), ...(g?.output ?? [])].some((v) => !isTensorType(v.type))
}

function readDataSets(testDir: string): DataSet[] | null {
  const sets = fs.readdirSync(testDir).filter((d) => d.startsWith('test_data_set_')).sort()
  const out: DataSet[] = []
  for (const set of sets) {
    const dir = path.join(testDir, set)
    const files = (prefix: string) =>
      fs.readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.pb')).sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length)))
    const ds: DataSet = { inputs: [], names: [], expected: [], expectedNames: [] }
    for (const f of files('input_')) {
      const tp = decodeTensorProto(fs.readFileSync(path.join(dir, f)))
      const t = tensorProtoToOrt(tp)
      if (!t) return null
      ds.inputs.push(t)
      ds.names.push(tp.name ?? '')
    }
    for (const f of files('output_')) {
      const tp = decodeTensorProto(fs.readFileSync(path.join(dir, f)))
      ds.expected.push(tensorProtoToOrt(tp))
      ds.expectedNames.push(tp.name ?? '')
    }
    out.push(ds)
  }
  return out
}

async function runAll(model: Uint8Array, sets: DataSet[]): Promise<Outputs[]> {
  const results: Outputs[] = []
  for (const ds of sets) {
    const feeds = ds.names.every((n) => n !== '') ? Object.fromEntries(ds.inputs.map((t, i) => [ds.names[i]!, t])) : ds.inputs
    results.push(await runOnce(model, feeds))
  }
  return results
}

function agreesWithReference(outputs: Outputs[], sets: DataSet[]): boolean {
  return sets.every((ds, k) => {
    const got = outputs[k]!
    const names = Object.keys(got)
    return ds.expected.every((e, i) => {
      const actual = got[ds.expectedNames[i] || names[i]!]
      return e !== null && actual !== undefined && closeToReference(actual, e)
    })
  })
}

describe('ONNX backend test data (libonnx-testdata)', () => {
  let data: OnnxTestdata
  beforeAll(() => {
    data = ensureOnnxTestdata()
  })

  it('round-trips every model; the re-encoded model gives identical outputs wherever ORT runs the original', async () => {
    const c: Counts = {
      models: 0, roundTripped: 0, byteIdentical: 0, nonTensorIO: 0, unsupportedType: 0, ortCantRun: 0, ran: 0, matched: 0,
      nondeterministic: 0, agreesWithReference: 0,
    }
    const failures: string[] = []
    for (const testDir of data.tests) {
      const name = path.relative(data.root, testDir)
      c.models++
      const original = fs.readFileSync(path.join(testDir, 'model.onnx'))
      let reencoded: Uint8Array
      let model: ModelProto
      try {
        model = loadModel(path.join(testDir, 'model.onnx')).model
        reencoded = encodeModelProto(model)
        const again = encodeModelProto(decodeModelProto(reencoded))
        if (Buffer.compare(again, reencoded) !== 0) throw new Error('re-encoding the re-decoded model gives different bytes')
      } catch (err) {
        failures.push(`${name}: round trip: ${(err as Error).message}`)
        continue
      }
      c.roundTripped++
      if (Buffer.compare(reencoded, original) === 0) c.byteIdentical++

      if (hasNonTensorIO(model)) {
        c.nonTensorIO++
        continue
      }
      const sets = readDataSets(testDir)
      if (!sets) {
        c.unsupportedType++
        continue
      }
      let before: Outputs[]
      try {
        before = await runAll(original, sets)
      } catch {
        c.ortCantRun++
        continue
      }
      c.ran++
      let after: Outputs[]
      try {
        after = await runAll(reencoded, sets)
      } catch (err) {
        failures.push(`${name}: ORT runs the original but not the re-encoded model: ${(err as Error).message}`)
        continue
      }
      const diff = before.map((o, k) => outputsDifference(o, after[k]!)).find((d) => d !== null)
      if (diff) {
        // random ops without a seed (Bernoulli, RandomUniformLike, ...) differ from run to run:
        // only a difference the original does not show against itself is a mismatch
        const again = await runAll(original, sets)
        if (before.some((o, k) => outputsDifference(o, again[k]!) !== null)) c.nondeterministic++
        else failures.push(`${name}: outputs differ: ${diff}`)
      } else {
        c.matched++
      }
      if (agreesWithReference(before, sets)) c.agreesWithReference++
    }

    console.log(
      `onnx conformance: ${c.models} models, ${c.roundTripped} round-tripped (${c.byteIdentical} byte-identical), ` +
        `${c.nonTensorIO} sequence/optional I/O skipped, ${c.unsupportedType} with input types ORT-node lacks, ` +
        `ORT can't run ${c.ortCantRun} originals, ran ${c.ran}: ${c.matched} identical, ${c.nondeterministic} nondeterministic, ` +
        `${c.ran - c.matched - c.nondeterministic} mismatched; ${c.agreesWithReference} agree with the reference outputs`,
    )
    expect(failures).toEqual([])
    expect(c.roundTripped).toBe(c.models)
    // every file in the suite was written by onnx's C++ protobuf, and the codec reproduces it exactly
    expect(c.byteIdentical).toBe(c.models)
    expect(c.models).toBeGreaterThanOrEqual(1000)
    expect(c.ran).toBeGreaterThanOrEqual(MIN_RAN)
    expect(c.matched + c.nondeterministic).toBe(c.ran)
    expect(c.agreesWithReference).toBeGreaterThanOrEqual(MIN_AGREE)
  }, 600_000)
})

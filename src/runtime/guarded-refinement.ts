import { QuantizeError } from '../errors.js'
import { NoTensorOutputs } from './tensor-outputs.js'

/**
 * Run a data-driven refinement (bias correction, error feedback, the accuracy target); when the
 * model cannot run on the inputs, or has no tensor output to compare, skip it with a warning
 * naming `label` and why, and return `fallback`. A QuantizeError is the user's to fix and throws.
 */
export async function guarded<T>(work: () => Promise<T>, fallback: T, label: string, inputs: string, warnings: string[]): Promise<T> {
  try {
    return await work()
  } catch (err) {
    if (err instanceof QuantizeError) throw err
    const first = (err as Error).message.split('\n')[0]!
    warnings.push(`${label} skipped: ${err instanceof NoTensorOutputs ? first : `the model could not run on ${inputs} inputs (${first})`}`)
    return fallback
  }
}

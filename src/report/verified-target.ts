import type { AccuracyReport, TunedAccuracy } from '../quantize-model.js'
import type { Verification } from '../runtime/verify.js'

/**
 * The accuracy target as verification saw it. The target tunes on its own inputs (the caller's
 * samples, the first 8 calibration samples, or generated inputs of seeds 1-8); verification runs
 * on others where there are any (calibration files past calibrate_size, generated seeds from
 * 1234), so a target reached where it tuned can be missed there: PP-OCRv4 det at 8 bit without
 * data reached 0.999921 on its generated inputs and read 0.999833 in verification (CLI, default
 * cfg). Reporting only the first would tell the user the target holds when the held-out check
 * says otherwise.
 */
export function checkTargetInVerification(tuned: TunedAccuracy, verification: Verification | null): { accuracy: AccuracyReport; warning: string | null } {
  const cosine = verification?.cosine ?? null
  const reachedInVerification = cosine === null ? null : cosine >= tuned.target
  const accuracy: AccuracyReport = { ...tuned, reachedInVerification }
  // a target missed where it tuned has its own warning already, with what it spent
  if (!tuned.reached || reachedInVerification !== false) return { accuracy, warning: null }
  const v = verification!
  const unseen = v.inputs === 'held-out' || v.inputs === 'generated'
  const advice = tuned.inputs === 'generated' ? '; tuned on real inputs (calibrate_path, or the samples option) it ranks the weights that matter on them' : ''
  const warning = `accuracy target ${tuned.target} reached on the ${tuned.inputs} inputs it tuned on (cosine ${tuned.cosineAfter.toFixed(6)}) but missed in verification: ` +
    `${cosine!.toFixed(6)} on ${v.samples} ${v.inputs} input${v.samples === 1 ? '' : 's'}${unseen ? ' it did not tune on' : ''}${advice}`
  return { accuracy, warning }
}

// What the CLI checks before minutes of work: that the files it will write cannot destroy an
// input, and that they can be written at all.
import fs from 'node:fs'
import path from 'node:path'
import { isCalibrationFile } from './calibrate/calibration-files.js'
import type { DataPreprocessConfig } from './cfg/index.js'
import { QuantizeError } from './errors.js'
import { externalEntry, isExternal } from './onnx/tensor-data.js'
import { readModelFile, type ModelFileRead } from './onnx/model-file.js'
import { forEachTensor } from './onnx/tensors.js'
import { linkTarget } from './link-target.js'
import { errnoError } from './fs-reason.js'
import { fsReason } from './write-atomic.js'

export interface PlannedWrite {
  model: string
  config: string
  /** The output as given; null when the model goes to stdout. */
  out: string | null
  reportDir: string | null
  /** The cfg's calibration folders and what they hold: no output may be one of their calibration files. */
  calibration?: { dirs: readonly string[]; inputType: DataPreprocessConfig['inputType'] } | null
  /** The cfg's debug_info_save_path (absolute), checked as the report folder is. */
  debugDir?: string | null
}

/** Where the files go once checked. */
export interface CheckedWrite {
  /** The output file: `out`, or where it leads when it is a symbolic link; null for stdout. */
  target: string | null
  /** `<target>.data` beside it, for a model with external data (named after the output, so two outputs of one model keep apart). */
  externalData: string | null
  /** The model as the checks read it, when they had to (for its external data files): quantizing need not read it again. */
  read: ModelFileRead | null
}

function statOrNull(file: string): fs.BigIntStats | null {
  try {
    return fs.statSync(file, { bigint: true })
  } catch {
    return null
  }
}

/**
 * Whether two paths name one file: the same inode when both exist (hard and symbolic links, `..`,
 * another case on a case-insensitive disk), else the same resolved path. Inodes are compared as
 * bigints (NTFS file ids pass 2^53); where a file system gives every file inode 0 (some SMB
 * shares), the real paths decide.
 */
function sameFile(a: string, b: string): boolean {
  const sa = statOrNull(a)
  const sb = statOrNull(b)
  if (sa && sb) return sa.ino !== 0n ? sa.ino === sb.ino && sa.dev === sb.dev : fs.realpathSync.native(a) === fs.realpathSync.native(b)
  return path.resolve(a) === path.resolve(b)
}

interface ModelExternalData {
  /** The external data files the model's tensors name, beside the model. */
  files: string[]
  /** The model as read; null when it cannot be read (quantizing reports that, naming the problem). */
  read: ModelFileRead | null
}

/**
 * The external data files the model's tensors name; none when it cannot be read. Read only when
 * a file stands where an output will go: else no output can replace one of them.
 */
function externalDataFiles(model: string, outputs: readonly string[]): ModelExternalData {
  return outputs.some((f) => statOrNull(f)) ? modelExternalData(model) : { files: [], read: null }
}

function modelExternalData(model: string): ModelExternalData {
  const files = new Set<string>()
  let read: ModelFileRead | null = null
  try {
    read = readModelFile(model)
    forEachTensor(read.model, (t) => {
      const location = isExternal(t) ? externalEntry(t, 'location') : undefined
      if (location) files.add(path.resolve(path.dirname(model), location))
    })
  } catch {
    // not readable or not a model: quantizing it says so, naming the problem
  }
  return { files: [...files], read }
}

/**
 * Refuses an output (or its external data file) that is the model, one of the model's external
 * data files, the cfg or a calibration file of the cfg's calibration folders; an output that is
 * a folder or whose folder cannot hold it (a device or FIFO: that cannot be written); a report
 * folder (--report-dir, the cfg's debug_info_save_path) that is a file or lies at or under the
 * output. An output of null (stdout) writes no file.
 */
export function checkOutputs(w: PlannedWrite): CheckedWrite {
  let checked: CheckedWrite
  if (w.out !== null) checked = checkModelOutput(w.model, w.config, w.out, w.calibration)
  else {
    const { files, read } = modelExternalData(w.model)
    // one stream carries one file; the external data would need a second
    if (files.length) throw new QuantizeError(w.model, 'the model keeps its weights in an external data file, and so will its output, which stdout cannot carry; give -o a file name', 'output')
    checked = { target: null, externalData: null, read }
  }
  if (w.reportDir) checkReportFolder(w.reportDir, w.out, 'the report folder', '--report-dir')
  if (w.debugDir) checkReportFolder(w.debugDir, w.out, "the cfg's debug_info_save_path folder", 'debug_info_save_path')
  return checked
}

/** A folder reports will be written to: not at or under the output, not a file, and writable. */
function checkReportFolder(given: string, out: string | null, what: string, option: string): void {
  if (out !== null) {
    const o = path.resolve(out)
    const dir = path.resolve(given)
    if (dir === o || dir.startsWith(o + path.sep)) throw new QuantizeError(given, `${what} would be made at or under the output file; choose another ${option}`, 'output')
  }
  const stat = statOrNull(given)
  if (stat?.isDirectory() === false) throw new QuantizeError(given, `cannot create ${what}: ${fsReason(errnoError('EEXIST'))}`, 'output')
  // the folder itself, or the nearest one that exists, where it will be made
  let dir = path.resolve(given)
  let found = statOrNull(dir)
  while (!found && path.dirname(dir) !== dir) found = statOrNull((dir = path.dirname(dir)))
  const denied = found?.isDirectory() === false ? errnoError('ENOTDIR') : writeDenied(dir)
  if (denied) throw new QuantizeError(given, `cannot create ${what}: ${fsReason(denied)}`, 'output')
}

/** Why files cannot be created in `dir` (no write or search permission, a read-only mount), or null. */
function writeDenied(dir: string): NodeJS.ErrnoException | null {
  try {
    fs.accessSync(dir, fs.constants.W_OK | fs.constants.X_OK)
    return null
  } catch (err) {
    return err as NodeJS.ErrnoException
  }
}

function checkModelOutput(model: string, config: string, given: string, calibration: PlannedWrite['calibration']): CheckedWrite {
  const cannot = (err: NodeJS.ErrnoException) => new QuantizeError(given, `cannot write output: ${fsReason(err)}`, 'output')
  let out: string
  try {
    // a symbolic link is written through, as by `cp`; checked and named where it leads (as given otherwise)
    const target = linkTarget(given)
    out = target === path.resolve(given) ? given : target
  } catch (err) {
    // a loop of links
    throw cannot(err as NodeJS.ErrnoException)
  }
  const externalData = path.join(path.dirname(out), `${path.basename(out)}.data`)
  const { files: external, read } = externalDataFiles(model, [out, externalData])
  const inputs: [string, string][] = [[model, 'the input model'], [config, 'the cfg file'], ...external.map((f): [string, string] => [f, "the input model's external data"])]
  const targets: [string, string][] = [[out, 'output'], ...(external.length ? [[externalData, "output's external data file"] as [string, string]] : [])]
  for (const [target, what] of targets) {
    for (const [file, name] of inputs) if (sameFile(target, file)) throw new QuantizeError(target === out ? given : target, `the ${what} would overwrite ${name}; choose another --out`, 'output')
    // a file of a calibration folder that calibration reads (an image, a .bin), there or to come:
    // the next run would read the model as calibration data, or miss the one it replaced
    if (calibration && isCalibrationFile(path.basename(target), calibration.inputType)) {
      const folder = path.dirname(path.resolve(target))
      const dir = calibration.dirs.find((d) => sameFile(folder, d))
      if (dir) throw new QuantizeError(target === out ? given : target, `the ${what} would be a calibration file of ${dir}; choose another --out`, 'output')
    }
  }
  const existing = statOrNull(out)
  if (existing?.isDirectory()) throw cannot(errnoError('EISDIR'))
  // a device or a FIFO is written into: what counts is whether it can be, not its folder (/dev)
  if (existing && !existing.isFile()) {
    try {
      fs.accessSync(out, fs.constants.W_OK)
    } catch (err) {
      throw cannot(err as NodeJS.ErrnoException)
    }
    return { target: out, externalData, read }
  }
  let folder: fs.Stats
  try {
    folder = fs.statSync(path.dirname(path.resolve(out)))
  } catch (err) {
    throw cannot(err as NodeJS.ErrnoException)
  }
  if (!folder.isDirectory()) throw cannot(errnoError('ENOTDIR'))
  const denied = writeDenied(path.dirname(path.resolve(out)))
  if (denied) throw cannot(denied)
  return { target: out, externalData, read }
}

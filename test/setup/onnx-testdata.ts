// The ONNX backend test data (Debian package libonnx-testdata: about 1,070 small models, each
// with test_data_set_N/{input,output}_K.pb), fetched with apt on first use and extracted into the
// git-ignored test/.onnx-testdata/. Called from the conformance test's beforeAll, not a vitest
// globalSetup, so only that test pays for it. Later runs find the extracted folder and skip all.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const PACKAGE = 'libonnx-testdata'
const TEST_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const TESTDATA_DIR = path.join(TEST_DIR, '.onnx-testdata')
// scratch space on the same file system (so the final rename works) and git-ignored like the result
const WORK_ROOT = path.join(TEST_DIR, '.tmp')
// written last: a folder without it is a half-finished extraction and is redone
const COMPLETE_MARKER = '.complete'

export interface OnnxTestdata {
  /** folder holding the test groups (node/, simple/, pytorch-converted/, ...) */
  root: string
  /** every test folder with a model.onnx, sorted */
  tests: string[]
}

function run(cmd: string, args: string[], cwd: string): { ok: boolean; output: string } {
  try {
    const out = execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' })
    return { ok: true, output: out }
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string }
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message }
  }
}

function download(workDir: string): string {
  let result = run('apt-get', ['download', PACKAGE], workDir)
  // on a fresh machine apt has no package lists yet; fetch them only then (apt-get update is slow)
  if (!result.ok) {
    const update = run('apt-get', ['update'], workDir)
    if (!update.ok) throw new Error(`apt-get update failed (needed to fetch ${PACKAGE}):\n${update.output}`)
    result = run('apt-get', ['download', PACKAGE], workDir)
  }
  if (!result.ok) throw new Error(`apt-get download ${PACKAGE} failed:\n${result.output}`)
  const deb = fs.readdirSync(workDir).find((f) => f.startsWith(`${PACKAGE}_`) && f.endsWith('.deb'))
  if (!deb) throw new Error(`apt-get download ${PACKAGE} left no .deb in ${workDir}`)
  return path.join(workDir, deb)
}

function findTests(dir: string, out: string[] = []): string[] {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue
    const sub = path.join(dir, entry.name)
    if (fs.existsSync(path.join(sub, 'model.onnx'))) out.push(sub)
    else findTests(sub, out)
  }
  return out
}

function listTests(dir: string): OnnxTestdata {
  // the package installs the tests under usr/share/libonnx-testdata/data/<group>/<test>/; search
  // rather than hard-code, in case a later package version moves them
  const share = path.join(dir, 'usr', 'share')
  const tests = findTests(share).sort()
  if (tests.length === 0) throw new Error(`${PACKAGE} extracted to ${dir} holds no model.onnx`)
  const groups = new Set(tests.map((t) => path.dirname(path.dirname(t))))
  const root = groups.size === 1 ? [...groups][0]! : share
  return { root, tests }
}

/** Fetch and extract the test data once; later calls reuse the extracted folder. */
export function ensureOnnxTestdata(): OnnxTestdata {
  if (fs.existsSync(path.join(TESTDATA_DIR, COMPLETE_MARKER))) return listTests(TESTDATA_DIR)
  fs.rmSync(TESTDATA_DIR, { recursive: true, force: true })
  const work = path.join(WORK_ROOT, `onnx-testdata-${process.pid}`)
  fs.rmSync(work, { recursive: true, force: true })
  fs.mkdirSync(work, { recursive: true })
  try {
    const deb = download(work)
    const extracted = path.join(work, 'root')
    const x = run('dpkg', ['-x', deb, extracted], work)
    if (!x.ok) throw new Error(`dpkg -x ${deb} failed:\n${x.output}`)
    fs.renameSync(extracted, TESTDATA_DIR)
    fs.writeFileSync(path.join(TESTDATA_DIR, COMPLETE_MARKER), `${path.basename(deb)}\n`)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
  return listTests(TESTDATA_DIR)
}

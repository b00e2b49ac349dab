import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { AppearingPaths } from '../plugins/core/appearing-paths.js'
import { until } from './helpers/until.js'

// AppearingPaths on its own: the signal file changes when a watched missing path appears

const open: AppearingPaths[] = []
const dirs: string[] = []
afterEach(() => {
  for (const a of open.splice(0)) a.close()
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})

function setup(): { dir: string; paths: AppearingPaths; fired: () => boolean } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'appearing-test-'))
  dirs.push(dir)
  const paths = new AppearingPaths()
  open.push(paths)
  return { dir, paths, fired: () => fs.readFileSync(paths.file, 'utf8') !== '' }
}

describe('AppearingPaths', () => {
  it('fires when a path appears in an existing folder', async () => {
    const { dir, paths, fired } = setup()
    paths.watch([path.join(dir, 'm.onnx.cfg')])
    fs.writeFileSync(path.join(dir, 'm.onnx.cfg'), '')
    await until('the signal', fired, { timeoutMs: 5000 })
  })

  it('fires when a path appears whose parent folder was missing too (mkdir -p data/calib)', async () => {
    const { dir, paths, fired } = setup()
    paths.watch([path.join(dir, 'data', 'calib')])
    fs.mkdirSync(path.join(dir, 'data', 'calib'), { recursive: true })
    await until('the signal', fired, { timeoutMs: 5000 })
  })

  it('fires when the folders on the way appear one at a time', async () => {
    const { dir, paths, fired } = setup()
    paths.watch([path.join(dir, 'a', 'b', 'c.cfg')])
    fs.mkdirSync(path.join(dir, 'a'))
    await new Promise((r) => setTimeout(r, 100))
    fs.mkdirSync(path.join(dir, 'a', 'b'))
    await new Promise((r) => setTimeout(r, 100))
    expect(fired()).toBe(false)
    fs.writeFileSync(path.join(dir, 'a', 'b', 'c.cfg'), '')
    await until('the signal', fired, { timeoutMs: 5000 })
  })

  it('does not fire for other entries of an ancestor folder', async () => {
    const { dir, paths, fired } = setup()
    paths.watch([path.join(dir, 'data', 'calib')])
    fs.mkdirSync(path.join(dir, 'dist'))
    fs.writeFileSync(path.join(dir, 'other.onnx'), '')
    await new Promise((r) => setTimeout(r, 200))
    expect(fired()).toBe(false)
  })

  it('sees a path appear in a watched folder that was removed and created again', async () => {
    const { dir, paths, fired } = setup()
    const sub = path.join(dir, 'sub')
    fs.mkdirSync(sub)
    paths.watch([path.join(sub, 'm.cfg')])
    fs.rmSync(sub, { recursive: true })
    // Linux reports the removal as 'rename': the folder's watcher must not stay behind
    await until('the removed folder to be unwatched', () => !paths.watching().includes(sub), { timeoutMs: 5000 })
    fs.mkdirSync(sub)
    await new Promise((r) => setTimeout(r, 100))
    fs.writeFileSync(path.join(sub, 'm.cfg'), '')
    await until('the signal', fired, { timeoutMs: 5000 })
  })

  it('stops watching the folders on a path\'s way once it appeared, and keeps those other paths need', async () => {
    const { dir, paths, fired } = setup()
    fs.mkdirSync(path.join(dir, 'other'))
    paths.watch([path.join(dir, 'data', 'calib'), path.join(dir, 'other', 'm.cfg')])
    expect(paths.watching()).toEqual([dir, path.join(dir, 'other')])
    fs.mkdirSync(path.join(dir, 'data', 'calib'), { recursive: true })
    await until('the signal', fired, { timeoutMs: 5000 })
    // `dir` stays: other/m.cfg is still missing below it
    expect(paths.watching()).toEqual([dir, path.join(dir, 'other')])
    fs.writeFileSync(paths.file, '')
    fs.writeFileSync(path.join(dir, 'other', 'm.cfg'), '')
    await until('the second signal', fired, { timeoutMs: 5000 })
    expect(paths.watching()).toEqual([])
  })

  it('a build that no longer lists a path stops watching its folder once pruned', async () => {
    const { dir, paths, fired } = setup()
    for (const d of ['a', 'b']) fs.mkdirSync(path.join(dir, d))
    paths.watch([path.join(dir, 'a', 'x.cfg'), path.join(dir, 'b', 'y.cfg')])
    expect(paths.watching()).toEqual([path.join(dir, 'a'), path.join(dir, 'b')])
    // the next build lists only b/y.cfg
    paths.reset()
    paths.watch([path.join(dir, 'b', 'y.cfg')])
    paths.prune()
    expect(paths.watching()).toEqual([path.join(dir, 'b')])
    fs.writeFileSync(path.join(dir, 'b', 'y.cfg'), '')
    await until('the signal', fired, { timeoutMs: 5000 })
  })

  it('removes its signal folder on process exit, and stops listening for it once closed', () => {
    const before = process.listeners('exit').length
    const paths = new AppearingPaths()
    const signalDir = path.dirname(paths.file)
    const added = process.listeners('exit').slice(before)
    expect(added).toHaveLength(1)
    ;(added[0] as () => void)()
    expect(fs.existsSync(signalDir)).toBe(false)
    paths.close()
    expect(process.listeners('exit')).toHaveLength(before)
  })
})

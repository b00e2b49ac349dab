import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { makeDirs, makeDirsSync } from '../src/make-dirs.js'
import { makeTmpDir } from './helpers/run-cli.js'

const root = makeTmpDir('make-dirs-')
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

describe.each([
  ['makeDirsSync', async (dir: string) => makeDirsSync(dir)],
  ['makeDirs', makeDirs],
])('%s makes folders as mkdir -p does', (name, make) => {
  const base = path.join(root, name)

  it('makes the missing parents and returns the first folder it made; an existing folder returns undefined', async () => {
    expect(await make(path.join(base, 'a', 'b', 'c'))).toBe(path.join(base))
    expect(fs.statSync(path.join(base, 'a', 'b', 'c')).isDirectory()).toBe(true)
    expect(await make(path.join(base, 'a', 'b'))).toBeUndefined()
    expect(await make(path.join(base, 'a', 'b', 'd'))).toBe(path.join(base, 'a', 'b', 'd'))
  })

  it('a file in the way fails as recursive mkdir does (EEXIST at the folder, ENOTDIR above it)', async () => {
    fs.mkdirSync(base, { recursive: true })
    const file = path.join(base, 'file')
    fs.writeFileSync(file, 'x')
    await expect(make(file)).rejects.toMatchObject({ code: 'EEXIST' })
    await expect(make(path.join(file, 'sub'))).rejects.toMatchObject({ code: 'ENOTDIR' })
  })
})

// The /proc case (Node 20's own recursive mkdir retries it forever) runs in a child process, in
// test/cli.test.ts: in-process, a regression would block this thread instead of failing.

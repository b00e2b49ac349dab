import path from 'node:path'

/** `**` any folders, `*` any characters but `/`, `?` one such character; the rest literal. */
function globToRegExp(glob: string): RegExp {
  let re = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` also matches no folder at all, so `**/*.onnx` matches `m.onnx`
      if (glob[i + 2] === '/') { re += '(?:.*/)?'; i += 2 } else { re += '.*'; i += 1 }
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/')
}

/**
 * Decide whether a model file is ours. Globs are matched against the path relative to `root`
 * (what users write in a config) and the absolute path; RegExps against the absolute path.
 */
export function createModelFilter(root: string, include: readonly (string | RegExp)[], exclude: readonly (string | RegExp)[]): (file: string) => boolean {
  const compile = (list: readonly (string | RegExp)[]) => list.map((p) => (typeof p === 'string' ? globToRegExp(toPosix(p)) : p))
  const inc = compile(include)
  const exc = compile(exclude)
  return (file) => {
    const abs = toPosix(path.resolve(file))
    const rel = toPosix(path.relative(root, path.resolve(file)))
    const hit = (res: RegExp[]) => res.some((r) => { r.lastIndex = 0; return r.test(rel) || (r.lastIndex = 0, r.test(abs)) })
    return hit(inc) && !hit(exc)
  }
}

// Builds dist/ once before any test file runs. Several files run what is built (the bin, the
// package's exports, the built plugins); a build inside one of them would rewrite dist/ while
// another reads it, whenever vitest runs files side by side.
import { buildDist } from '../helpers/run-cli.js'

export default function setup(): void {
  buildDist()
}

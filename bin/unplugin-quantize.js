#!/usr/bin/env node
// The CLI lives in the compiled package (npm's `prepare` builds dist/ on install).
import { main } from '../dist/src/cli.js'

process.exitCode = await main(process.argv.slice(2))

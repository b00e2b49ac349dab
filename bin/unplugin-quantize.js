#!/usr/bin/env node
// The CLI lives in the compiled package (npm's `prepare` builds dist/ on install).
import { runCliProcess } from '../dist/src/cli-process.js'

process.exitCode = await runCliProcess(process.argv.slice(2))

import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const resultsPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'RESULTS.md')

/**
 * Replace (or append) one marked section of bench/RESULTS.md, so each bench script owns its part
 * of the file and re-running one leaves the others' measurements in place.
 */
export function writeResultsSection(id: string, title: string, body: string, file = resultsPath): void {
  const section = `<!-- ${id} -->\n## ${title}\n\n${body.trim()}\n<!-- /${id} -->\n`
  const md = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : ''
  const marked = new RegExp(`<!-- ${id} -->[\\s\\S]*<!-- /${id} -->\\n?`)
  fs.writeFileSync(file, marked.test(md) ? md.replace(marked, section) : `${md.trimEnd()}\n\n${section}`)
}

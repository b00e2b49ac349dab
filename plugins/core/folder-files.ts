import fs from 'node:fs'
import path from 'node:path'

/**
 * The files of a folder as the engine reads them: regular files and symbolic links to files
 * (a calibration folder of links into a data set is common). Other entries, broken links
 * included, are left out; a folder that cannot be read gives [] (the engine reports it).
 */
export function folderFiles(dir: string): string[] {
  let entries: fs.Dirent[]
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return []
  }
  const files: string[] = []
  for (const e of entries) {
    const file = path.join(dir, e.name)
    if (e.isFile()) files.push(file)
    else if (e.isSymbolicLink()) {
      try {
        if (fs.statSync(file).isFile()) files.push(file)
      } catch {
        // a broken link: the engine cannot read it either
      }
    }
  }
  return files
}

import { blobNameProblem } from './layout.js'

export interface ManifestBlob {
  name: string
  size: number
  sha256: string
}

/** What an entry holds. No timestamps: writers of one key produce the same manifest. */
export interface Manifest {
  format: 1
  key: string
  blobs: ManifestBlob[]
}

export function manifestText(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`
}

/** The manifest in `text`, or the reason it is not one for `key`. */
export function parseManifest(text: string, key: string): Manifest | string {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return 'is not JSON'
  }
  if (!isRecord(value) || value.format !== 1) return 'is not a cache manifest of format 1'
  if (value.key !== key) return `is for key ${String(value.key)}, not ${key}`
  if (!Array.isArray(value.blobs)) return 'has no blob list'
  const blobs: ManifestBlob[] = []
  const seen = new Set<string>()
  for (const b of value.blobs as unknown[]) {
    if (!isRecord(b) || typeof b.name !== 'string' || typeof b.size !== 'number' || typeof b.sha256 !== 'string') {
      return 'has a blob without name, size and sha256'
    }
    const problem = blobNameProblem(b.name)
    if (problem) return `names a blob '${b.name}' that ${problem}`
    if (seen.has(b.name)) return `lists blob '${b.name}' twice`
    if (!Number.isSafeInteger(b.size) || b.size < 0) return `gives blob '${b.name}' the size ${b.size}`
    if (!/^[0-9a-f]{64}$/.test(b.sha256)) return `gives blob '${b.name}' a malformed sha256`
    seen.add(b.name)
    blobs.push({ name: b.name, size: b.size, sha256: b.sha256 })
  }
  return { format: 1, key, blobs }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

import { randomBytes } from 'node:crypto'
import { chmod, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { loadManifest, validateManifest, MANIFEST_FILE, type Manifest } from '../manifest/index.js'
import { BundleError } from './errors.js'
import { decodeBundle, defaultBundleLimits, type BundleLimits } from './format.js'

/**
 * Unpacks bundle bytes (already verified against their CID) into `dir`, read-only. The files
 * go to a temporary sibling first, the manifest is checked there, and one rename makes the
 * folder appear whole: a crash leaves either nothing or a complete skill.
 */
export function bundleManifest (bytes: Uint8Array, limits: BundleLimits = defaultBundleLimits): Manifest {
  const files = decodeBundle(bytes, limits)
  const file = files.find(f => f.path === MANIFEST_FILE)
  if (file == null) throw new BundleError(`bundle has no ${MANIFEST_FILE}`, 'ERR_BUNDLE_FORMAT')
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(file.data).toString('utf8'))
  } catch (err: any) {
    throw new BundleError(`bundle's ${MANIFEST_FILE} is not JSON: ${err.message}`, 'ERR_BUNDLE_FORMAT')
  }
  return validateManifest(value, `bundle ${MANIFEST_FILE}`)
}

export async function extractBundle (bytes: Uint8Array, dir: string, limits: BundleLimits = defaultBundleLimits): Promise<Manifest> {
  if (await stat(dir).catch(() => null) != null) return await loadManifest(dir)
  const files = decodeBundle(bytes, limits)
  const tmp = join(dirname(dir), `.tmp-${randomBytes(6).toString('hex')}`)
  try {
    const dirs = new Set<string>()
    for (const f of files) {
      const at = join(tmp, ...f.path.split('/'))
      await mkdir(dirname(at), { recursive: true, mode: 0o755 })
      dirs.add(dirname(at))
      await writeFile(at, f.data, { mode: f.mode & 0o555, flag: 'wx' })
    }
    await mkdir(tmp, { recursive: true })
    const manifest = await loadManifest(tmp)
    // read-only folders, deepest first, so the sandbox mount cannot be changed from the host side by accident
    for (const d of [...dirs].sort((a, b) => b.length - a.length)) await chmod(d, 0o555)
    await chmod(tmp, 0o555)
    await rename(tmp, dir).catch(async (err) => {
      if (err.code === 'ENOTEMPTY' || err.code === 'EEXIST') return // a concurrent extract won; same content
      throw err
    })
    return manifest
  } finally {
    await rmTree(tmp)
  }
}

/** Removes a tree made read-only by extractBundle. */
export async function rmTree (dir: string): Promise<void> {
  if (await stat(dir).catch(() => null) == null) return
  await chmodTree(dir)
  await rm(dir, { recursive: true, force: true })
}

async function chmodTree (dir: string): Promise<void> {
  const { readdir } = await import('node:fs/promises')
  await chmod(dir, 0o755).catch(() => {})
  for (const e of await readdir(dir, { withFileTypes: true })) if (e.isDirectory()) await chmodTree(join(dir, e.name))
}

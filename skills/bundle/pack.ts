import { lstat, readdir, readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { CID } from 'multiformats/cid'
import { loadManifest, ManifestError, type Manifest } from '../manifest/index.js'
import { bundleCid } from './cid.js'
import { BundleError } from './errors.js'
import { defaultBundleLimits, encodeBundle, MODE_EXEC, MODE_FILE, pathProblem, type BundleFile, type BundleLimits } from './format.js'

/**
 * Packs a skill folder into a bundle. Only content counts: paths (sorted), file bytes and the
 * executable bit. Times, owners, permissions beyond +x, and the order files were made in do
 * not, so the same skill gives the same CID wherever it is packed. The manifest must pass its
 * schema and the tree may hold only regular files and directories.
 */
export interface PackedBundle {
  bytes: Uint8Array
  cid: CID
  size: number
  manifest: Manifest
  files: Array<{ path: string, size: number }>
}

export async function packSkill (dir: string, limits: BundleLimits = defaultBundleLimits): Promise<PackedBundle> {
  const root = resolve(dir)
  let manifest: Manifest
  try {
    manifest = await loadManifest(root)
  } catch (err) {
    // the tree scan names symlinks and special files; say them as packing errors too
    if (err instanceof ManifestError && err.code === 'ERR_SYMLINK') throw new BundleError(`cannot pack: ${err.message}`, 'ERR_BUNDLE_SYMLINK', err.field)
    if (err instanceof ManifestError && err.code === 'ERR_SKILL_DIR' && err.field != null) throw new BundleError(`cannot pack: ${err.message}`, 'ERR_BUNDLE_SPECIAL', err.field)
    throw err
  }
  const files: BundleFile[] = []
  let total = 0
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(root, rel), { withFileTypes: true })
    for (const entry of entries) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`
      const problem = pathProblem(path)
      if (problem != null) throw new BundleError(`cannot pack ${path}: ${problem}`, 'ERR_BUNDLE_PATH', path)
      const st = await lstat(join(root, path))
      if (st.isSymbolicLink()) throw new BundleError(`cannot pack ${path}: it is a symlink; copy the file into the folder instead`, 'ERR_BUNDLE_SYMLINK', path)
      if (st.isDirectory()) { await walk(path); continue }
      if (!st.isFile()) throw new BundleError(`cannot pack ${path}: not a regular file (device, socket or pipe)`, 'ERR_BUNDLE_SPECIAL', path)
      if (st.size > limits.maxFileBytes) throw new BundleError(`cannot pack ${path}: ${st.size} bytes is over the ${limits.maxFileBytes} byte file limit`, 'ERR_BUNDLE_TOO_LARGE', path)
      total += st.size
      if (total > limits.maxBundleBytes) throw new BundleError(`cannot pack ${dir}: its files pass the ${limits.maxBundleBytes} byte bundle limit`, 'ERR_BUNDLE_TOO_LARGE')
      if (files.length + 1 > limits.maxFiles) throw new BundleError(`cannot pack ${dir}: more than ${limits.maxFiles} files`, 'ERR_BUNDLE_TOO_LARGE')
      files.push({ path, mode: (st.mode & 0o111) !== 0 ? MODE_EXEC : MODE_FILE, data: await readFile(join(root, path)) })
    }
  }
  await walk('')
  const bytes = encodeBundle(files, limits)
  return { bytes, cid: bundleCid(bytes), size: bytes.length, manifest, files: files.map(f => ({ path: f.path, size: f.data.length })).sort((a, b) => a.path < b.path ? -1 : 1) }
}

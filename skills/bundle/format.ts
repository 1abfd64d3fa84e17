import { decodeCanonical, encodeCanonical } from '../../protocol/codec.js'
import { BundleError } from './errors.js'

/**
 * The bundle format: one DAG-CBOR document `{format, files: [{path, mode, data}]}` with files
 * sorted by path and nothing else — no times, owners or order from the disk — so the same
 * content always gives the same bytes and the same CID. DAG-CBOR's canonical, strict codec
 * makes the decoder refuse anything ambiguous; decoding checks every rule again, since a
 * bundle from a peer is hostile until proven otherwise.
 */
export const BUNDLE_FORMAT = 'aas-bundle/1'
export const MODE_FILE = 0o644
export const MODE_EXEC = 0o755

export interface BundleFile {
  /** Relative POSIX path, `/`-separated, no `.`/`..` parts. */
  path: string
  mode: typeof MODE_FILE | typeof MODE_EXEC
  data: Uint8Array
}

export interface BundleLimits {
  /** Largest bundle (encoded bytes). */
  maxBundleBytes: number
  maxFileBytes: number
  maxFiles: number
}

export const defaultBundleLimits: BundleLimits = {
  maxBundleBytes: 16 * 1024 * 1024,
  maxFileBytes: 8 * 1024 * 1024,
  maxFiles: 1000
}

const MAX_PATH = 255

/** Why a path is unsafe, or undefined when it is fine. */
export function pathProblem (path: string): string | undefined {
  if (path === '' || path.length > MAX_PATH) return `path length must be 1 to ${MAX_PATH}`
  if (path.startsWith('/')) return 'absolute path'
  if (/[\\\u0000-\u001f\u007f]/.test(path)) return 'backslash or control character in path'
  const parts = path.split('/')
  if (parts.some(p => p === '' || p === '.' || p === '..')) return 'empty, "." or ".." path part'
  return undefined
}

const byPath = (a: { path: string }, b: { path: string }): number => a.path < b.path ? -1 : a.path > b.path ? 1 : 0

export function encodeBundle (files: BundleFile[], limits: BundleLimits = defaultBundleLimits): Uint8Array {
  const sorted = [...files].sort(byPath)
  const bytes = encodeCanonical({ format: BUNDLE_FORMAT, files: sorted.map(f => ({ path: f.path, mode: f.mode, data: f.data })) })
  if (bytes.length > limits.maxBundleBytes) throw new BundleError(`bundle is ${bytes.length} bytes, over the ${limits.maxBundleBytes} byte limit`, 'ERR_BUNDLE_TOO_LARGE')
  return bytes
}

export function decodeBundle (bytes: Uint8Array, limits: BundleLimits = defaultBundleLimits): BundleFile[] {
  if (bytes.length > limits.maxBundleBytes) throw new BundleError(`bundle is ${bytes.length} bytes, over the ${limits.maxBundleBytes} byte limit`, 'ERR_BUNDLE_TOO_LARGE')
  let doc: any
  try {
    // one content, one encoding, one CID: only the canonical encoding decodes
    doc = decodeCanonical(bytes)
  } catch (err: any) {
    throw new BundleError(`not a bundle: ${err.message}`, 'ERR_BUNDLE_FORMAT')
  }
  const bad = (why: string, path?: string): never => { throw new BundleError(`not a well-formed bundle: ${why}`, 'ERR_BUNDLE_FORMAT', path) }
  if (doc == null || typeof doc !== 'object' || Array.isArray(doc)) bad('not a map')
  const keys = Object.keys(doc).sort().join(',')
  if (keys !== 'files,format') bad(`unexpected fields ${keys}`)
  if (doc.format !== BUNDLE_FORMAT) bad(`format is ${String(doc.format)}, expected ${BUNDLE_FORMAT}`)
  if (!Array.isArray(doc.files)) bad('files is not a list')
  if (doc.files.length > limits.maxFiles) throw new BundleError(`bundle holds ${doc.files.length} files, over the limit of ${limits.maxFiles}`, 'ERR_BUNDLE_TOO_LARGE')
  const out: BundleFile[] = []
  const dirs = new Set<string>()
  let previous: string | undefined
  for (const f of doc.files) {
    if (f == null || typeof f !== 'object' || Object.keys(f).sort().join(',') !== 'data,mode,path') bad('a file entry is not {path, mode, data}')
    if (typeof f.path !== 'string') bad('a path is not text')
    const problem = pathProblem(f.path)
    if (problem != null) throw new BundleError(`unsafe path "${f.path}" in bundle: ${problem}`, 'ERR_BUNDLE_PATH', f.path)
    if (previous != null && !(previous < f.path)) bad('files are not sorted by path, or a path repeats', f.path)
    if (f.mode !== MODE_FILE && f.mode !== MODE_EXEC) bad(`mode of ${f.path} is not 0644 or 0755`, f.path)
    if (!(f.data instanceof Uint8Array)) bad(`data of ${f.path} is not bytes`, f.path)
    if (f.data.length > limits.maxFileBytes) throw new BundleError(`${f.path} is ${f.data.length} bytes, over the ${limits.maxFileBytes} byte file limit`, 'ERR_BUNDLE_TOO_LARGE', f.path)
    const parts = f.path.split('/')
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'))
    previous = f.path
    out.push({ path: f.path, mode: f.mode, data: f.data })
  }
  // a file may not also be a directory of another file ("a" and "a/b")
  for (const f of out) if (dirs.has(f.path)) bad(`${f.path} is both a file and a directory`, f.path)
  return out
}

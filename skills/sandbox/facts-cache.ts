import { randomBytes } from 'node:crypto'
import { chmod, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { delimiter, join } from 'node:path'

/**
 * Facts about the host that cost a process to learn (`podman info` runs dpkg queries, ~0.3 s;
 * `podman image inspect`, ~0.1 s) kept on disk between runs and between CLI processes, under a
 * key made of what would change them. A file whose key differs, or that does not parse as the
 * expected shape, is ignored and rebuilt: a stale or corrupt cache costs one probe, never a
 * wrong fact. Written atomically (temporary file + rename), mode 0600.
 */
export interface FactsFile<T> {
  /** Bumped when the shape of `facts` changes. */
  v: number
  key: string
  facts: T
}

export const FACTS_VERSION = 1

/** `path:size:mtime` of a file, or `path:-` when it is absent (its appearing changes the key too). */
export async function fileStamp (path: string): Promise<string> {
  const st = await stat(path).catch(() => null)
  return st == null ? `${path}:-` : `${path}:${st.size}:${Math.round(st.mtimeMs)}`
}

/** The first executable named `name` on `PATH`, as the podman client would be found by spawn. */
export async function whichStamp (name: string, path = process.env.PATH ?? '/usr/bin:/bin'): Promise<string> {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue
    const at = join(dir, name)
    const st = await stat(at).catch(() => null)
    if (st?.isFile() === true && (st.mode & 0o111) !== 0) return await fileStamp(at)
  }
  return `${name}:-`
}

/**
 * The cached facts under `key`, or undefined when the file is missing, unreadable, of another
 * version or key, or fails `valid` (a hand-edited or truncated file).
 */
export async function readFacts<T> (file: string, key: string, valid: (facts: unknown) => facts is T): Promise<T | undefined> {
  let parsed: unknown
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'))
  } catch { return undefined }
  if (parsed == null || typeof parsed !== 'object') return undefined
  const f = parsed as Partial<FactsFile<unknown>>
  if (f.v !== FACTS_VERSION || f.key !== key || !valid(f.facts)) return undefined
  return f.facts
}

/** Writes the facts atomically, readable by this user only; a failure to write is not an error (the next run probes again). */
export async function writeFacts<T> (file: string, key: string, facts: T): Promise<void> {
  const dir = join(file, '..')
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await writeFile(tmp, JSON.stringify({ v: FACTS_VERSION, key, facts } satisfies FactsFile<T>), { mode: 0o600 })
    await chmod(tmp, 0o600) // whatever the umask
    await rename(tmp, file)
  } catch {
    await rm(tmp, { force: true }).catch(() => {})
  }
}

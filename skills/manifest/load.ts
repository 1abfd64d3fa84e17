import { lstat, readFile, readdir, realpath } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import type { ErrorObject } from 'ajv'
import type { Manifest } from './schema.js'
import { ManifestError, SkillSchemaErrorCode } from './errors.js'
import { compileSkillSchema } from './skill-schemas.js'
import { manifestLintValidator, manifestValidator } from './validate.js'

/**
 * Reads and validates a skill folder's `skill.json`. The entrypoint must be a regular file
 * inside the folder: no absolute path, no `..`, and no symlink anywhere on its way (a symlink
 * could point the sandbox's read-only /skill mount at host files).
 */
export const MANIFEST_FILE = 'skill.json'
const MAX_MANIFEST_BYTES = 256 * 1024

/** One thing wrong with a skill folder, named by the field (or file) at fault. */
export interface ManifestProblem { field: string, message: string }

function fieldOf (path: string): string {
  return path.replace(/^\//, '').replaceAll('/', '.') || '(top level)'
}

/** An Ajv error as the field it names and why (`"version" is missing`). */
function describe (e: ErrorObject | undefined): ManifestProblem {
  const at = (e?.instancePath ?? '').replace(/^\//, '').replaceAll('/', '.')
  const under = (prop: string): string => at === '' ? prop : `${at}.${prop}`
  if (e?.keyword === 'required') return { field: under(String(e.params.missingProperty)), message: 'is missing' }
  if (e?.keyword === 'additionalProperties') return { field: under(String(e.params.additionalProperty)), message: 'is not a known field' }
  return { field: fieldOf(e?.instancePath ?? ''), message: e?.message ?? 'is invalid' }
}

/**
 * Its own `inputSchema`/`outputSchema` must compile, with patterns RE2 can run and no unbounded
 * quadratic check (skill-schemas.ts): a broken or costly schema is the author's error.
 */
function skillSchemaProblems (value: Record<string, unknown>): ManifestProblem[] {
  const out: ManifestProblem[] = []
  for (const key of ['inputSchema', 'outputSchema'] as const) {
    const schema = value[key]
    if (schema == null || typeof schema !== 'object' || Array.isArray(schema)) continue
    try {
      compileSkillSchema(schema)
    } catch (err: any) {
      out.push({ field: key, message: err?.code === SkillSchemaErrorCode.INVALID || err?.code == null ? `is not a valid JSON Schema: ${String(err.message)}` : `is refused: ${String(err.message)}` })
    }
  }
  return out
}

export function validateManifest (value: unknown, where = MANIFEST_FILE): Manifest {
  const validate = manifestValidator()
  if (!validate(value)) {
    const p = describe(validate.errors?.[0])
    throw new ManifestError(`${where}: field "${p.field}" ${p.message}`, 'ERR_MANIFEST_SCHEMA', p.field)
  }
  const broken = skillSchemaProblems(value as unknown as Record<string, unknown>)[0]
  if (broken != null) throw new ManifestError(`${where}: field "${broken.field}" ${broken.message}`, 'ERR_MANIFEST_SCHEMA', broken.field)
  return value
}

/** Every problem of a parsed `skill.json` against the schema, and of its own schemas; [] when none. */
export function manifestProblems (value: unknown): ManifestProblem[] {
  const validateAll = manifestLintValidator()
  const out = validateAll(value) ? [] : (validateAll.errors ?? []).map(describe)
  if (value != null && typeof value === 'object' && !Array.isArray(value)) out.push(...skillSchemaProblems(value as Record<string, unknown>))
  return out
}

export async function loadManifest (dir: string): Promise<Manifest> {
  const { root, file, value } = await readManifestFile(dir)
  const manifest = validateManifest(value, file)
  await checkEntrypoint(root, manifest.entrypoint)
  await checkTree(root)
  return manifest
}

/** The folder's `skill.json` parsed, not yet validated; ManifestError when there is none to parse. */
export async function readManifestFile (dir: string): Promise<{ root: string, file: string, value: unknown }> {
  const root = resolve(dir)
  const st = await lstat(root).catch(() => null)
  if (st == null || !st.isDirectory()) throw new ManifestError(`${dir} is not a skill folder (no such directory)`, 'ERR_SKILL_DIR')
  const file = join(root, MANIFEST_FILE)
  const fst = await lstat(file).catch(() => null)
  if (fst == null) throw new ManifestError(`${dir} has no ${MANIFEST_FILE}: every skill folder needs one (see the README, "Skills")`, 'ERR_MANIFEST_MISSING')
  if (fst.isSymbolicLink()) throw new ManifestError(`${file} is a symlink: skill files must be regular files inside the folder`, 'ERR_SYMLINK', MANIFEST_FILE)
  if (!fst.isFile() || fst.size > MAX_MANIFEST_BYTES) throw new ManifestError(`${file} must be a regular file of at most ${MAX_MANIFEST_BYTES} bytes`, 'ERR_MANIFEST_JSON')
  let value: unknown
  try {
    value = JSON.parse(await readFile(file, 'utf8'))
  } catch (err: any) {
    throw new ManifestError(`${file} is not valid JSON: ${err.message}`, 'ERR_MANIFEST_JSON')
  }
  return { root, file, value }
}

const MAX_SKILL_FILES = 2000

/** Every entry of the folder must be a regular file or a directory: no symlinks, devices, sockets. */
export async function checkTree (root: string): Promise<void> {
  let count = 0
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (++count > MAX_SKILL_FILES) throw new ManifestError(`skill folder has more than ${MAX_SKILL_FILES} entries`, 'ERR_SKILL_DIR')
      const path = join(dir, entry.name)
      const rel = relative(root, path)
      if (entry.isSymbolicLink()) throw new ManifestError(`${rel} is a symlink: skill files must be regular files inside the folder`, 'ERR_SYMLINK', rel)
      if (entry.isDirectory()) await walk(path)
      else if (!entry.isFile()) throw new ManifestError(`${rel} is not a regular file (device, socket or pipe)`, 'ERR_SKILL_DIR', rel)
    }
  }
  await walk(root)
}

export async function checkEntrypoint (root: string, entrypoint: string): Promise<void> {
  if (isAbsolute(entrypoint) || entrypoint.split(/[/\\]/).includes('..')) {
    throw new ManifestError(`skill.json: field "entrypoint" must be a path inside the skill folder, not "${entrypoint}"`, 'ERR_ENTRYPOINT', 'entrypoint')
  }
  // walk every component: none may be a symlink
  let at = root
  for (const part of entrypoint.split('/').filter(p => p !== '' && p !== '.')) {
    at = join(at, part)
    const st = await lstat(at).catch(() => null)
    if (st == null) throw new ManifestError(`skill.json: field "entrypoint": ${entrypoint} does not exist in the skill folder`, 'ERR_ENTRYPOINT', 'entrypoint')
    if (st.isSymbolicLink()) throw new ManifestError(`skill.json: field "entrypoint": ${entrypoint} goes through a symlink; skill files must be regular files inside the folder`, 'ERR_SYMLINK', 'entrypoint')
  }
  const st = await lstat(at)
  if (!st.isFile()) throw new ManifestError(`skill.json: field "entrypoint": ${entrypoint} is not a regular file`, 'ERR_ENTRYPOINT', 'entrypoint')
  const real = await realpath(at)
  const rel = relative(await realpath(root), real)
  if (rel.startsWith('..') || isAbsolute(rel) || rel.split(sep).includes('..')) {
    throw new ManifestError(`skill.json: field "entrypoint" leaves the skill folder`, 'ERR_ENTRYPOINT', 'entrypoint')
  }
}

import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmod, mkdir, mkdtemp, readdir, rm, symlink, lstat } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AasError } from '../../protocol/errors.js'
import type { Runtime } from '../manifest/index.js'
import { imageName, imageSpecs, RECIPE_VERSION, type RuntimeImageSpec } from './specs.js'
import { requirePodman } from '../sandbox/host.js'

const run = promisify(execFile)

/**
 * Builds runtime images offline from Debian packages: resolve the dependency closure with
 * apt-cache, fetch the exact .deb files with `apt-get download` (cached), unpack them with
 * `dpkg -x` into a root folder and `podman import` it. The tag is a hash of the recipe and
 * the package files (name, version, SHA-256), so an unchanged recipe and archive reuse the
 * image without downloading anything, and any change makes a new one.
 */
export class ImageBuildError extends AasError {
  constructor (message: string, code: 'ERR_APT' | 'ERR_IMAGE_BUILD') {
    super(message, code)
    this.name = 'ImageBuildError'
  }
}

export interface BuildImageOptions {
  /** Where downloaded .deb files are kept between builds. */
  cacheDir?: string
  progress?: (line: string) => void
}

interface DebFile { file: string, sha256: string }

/**
 * The newest version of each package that an archive offers (`apt-cache madison` lists only
 * archive versions, highest first), so a package installed on the host from elsewhere does
 * not stop the build: the image always holds versions that `apt-get download` can fetch.
 */
async function archiveVersions (names: string[]): Promise<Map<string, string>> {
  const { stdout } = await run('apt-cache', ['madison', ...names], { maxBuffer: 16 << 20 }).catch(() => ({ stdout: '' }))
  const versions = new Map<string, string>()
  for (const line of stdout.split('\n')) {
    const [name, version] = line.split('|').map(s => s.trim())
    if (name != null && version != null && name !== '' && !versions.has(name)) versions.set(name, version)
  }
  return versions
}

function pinned (names: string[], versions: Map<string, string>): string[] {
  return names.map(n => versions.has(n) ? `${n}=${versions.get(n)}` : n)
}

async function closure (spec: RuntimeImageSpec): Promise<string[]> {
  const roots = pinned(spec.roots, await archiveVersions(spec.roots))
  const { stdout } = await run('apt-cache', ['depends', '--recurse', '--no-recommends', '--no-suggests', '--no-conflicts', '--no-breaks', '--no-replaces', '--no-enhances', ...roots], { maxBuffer: 16 << 20 })
    .catch((err: any) => { throw new ImageBuildError(`apt-cache cannot resolve ${spec.roots.join(' ')}: ${String(err.stderr ?? err.message).trim().split('\n')[0]} (run apt-get update)`, 'ERR_APT') })
  const names = new Set(stdout.split('\n').filter(l => /^[a-z0-9]/.test(l)).map(l => l.trim()))
  return [...names].filter(n => !spec.exclude.some(re => re.test(n))).sort()
}

async function resolveDebs (packages: string[]): Promise<DebFile[]> {
  const { stdout } = await run('apt-get', ['download', '--print-uris', ...pinned(packages, await archiveVersions(packages))], { maxBuffer: 16 << 20 })
    .catch((err: any) => { throw new ImageBuildError(`apt-get cannot locate packages: ${String(err.stderr ?? err.message).trim().split('\n')[0]} (run apt-get update)`, 'ERR_APT') })
  return stdout.split('\n').filter(l => l.startsWith("'")).map(l => {
    const [, file, , hash] = l.split(' ')
    return { file, sha256: hash.replace(/^SHA256:/, '') }
  }).sort((a, b) => a.file.localeCompare(b.file))
}

export function contentTag (spec: RuntimeImageSpec, debs: DebFile[]): string {
  const h = createHash('sha256')
  h.update(JSON.stringify({ recipe: RECIPE_VERSION, links: spec.links, command: spec.command }))
  for (const d of debs) h.update(`${d.file} ${d.sha256}\n`)
  return h.digest('hex').slice(0, 16)
}

async function imageExists (ref: string): Promise<boolean> {
  try {
    await run('podman', ['image', 'exists', ref])
    return true
  } catch { return false }
}

async function sh (cmd: string, args: string[], opts: { cwd?: string, input?: NodeJS.ReadableStream } = {}): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: [opts.input != null ? 'pipe' : 'ignore', 'ignore', 'pipe'] })
    let err = ''
    child.stderr?.on('data', (d) => { err += String(d) })
    if (opts.input != null && child.stdin != null) opts.input.pipe(child.stdin)
    child.on('error', reject)
    child.on('close', (code) => { code === 0 ? resolve() : reject(new ImageBuildError(`${cmd} ${args[0]} failed: ${err.trim().split('\n').pop() ?? code}`, 'ERR_IMAGE_BUILD')) })
  })
}

/** Builds (or reuses) the image of one runtime; returns `name:tag`. */
export async function buildRuntimeImage (runtime: Runtime, options: BuildImageOptions = {}): Promise<string> {
  await requirePodman()
  const spec = imageSpecs[runtime]
  const progress = options.progress ?? (() => {})
  const debs = await resolveDebs(await closure(spec))
  const ref = `${imageName(runtime)}:${contentTag(spec, debs)}`
  if (await imageExists(ref)) {
    await sh('podman', ['tag', ref, `${imageName(runtime)}:latest`])
    progress(`${runtime}: ${ref} is up to date`)
    return ref
  }
  const cacheDir = options.cacheDir ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'aas', 'debs')
  await mkdir(cacheDir, { recursive: true })
  const have = new Set(await readdir(cacheDir))
  const missing = debs.filter(d => !have.has(d.file))
  if (missing.length > 0) {
    progress(`${runtime}: downloading ${missing.length} of ${debs.length} Debian packages`)
    // apt-get download wants package names; the file names are NAME_VERSION_ARCH.deb
    const names = missing.map(d => decodeURIComponent(d.file).split('_').slice(0, 2).join('='))
    await sh('apt-get', ['download', '-q', ...names], { cwd: cacheDir })
  }
  const work = await mkdtemp(join(tmpdir(), `aas-image-${runtime}-`))
  try {
    const root = join(work, 'rootfs')
    await mkdir(root)
    progress(`${runtime}: unpacking ${debs.length} packages`)
    for (const d of debs) await sh('dpkg', ['-x', join(cacheDir, d.file), root])
    for (const [path, target] of spec.links) {
      const at = join(root, path)
      if (await lstat(at).catch(() => null) == null) await symlink(target, at)
    }
    for (const dir of ['tmp', 'skill', 'input', 'output']) await mkdir(join(root, dir), { recursive: true, mode: 0o755 })
    // runc copies the image's /tmp mode onto the tmpfs mounted there (ignoring mode=1777)
    await chmod(join(root, 'tmp'), 0o1777)
    progress(`${runtime}: importing ${ref}`)
    const tar = spawn('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', '-', '.'], { stdio: ['ignore', 'pipe', 'inherit'] })
    await sh('podman', ['import', '--change', 'USER=65534:65534', '--change', 'WORKDIR=/tmp', '-', ref], { input: tar.stdout })
    await sh('podman', ['tag', ref, `${imageName(runtime)}:latest`])
    progress(`${runtime}: built ${ref}`)
    return ref
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

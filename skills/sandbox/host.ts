import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { SandboxError } from './errors.js'
import { fileStamp, readFacts, whichStamp, writeFacts } from './facts-cache.js'

const run = promisify(execFile)

/**
 * What this host's Podman can do, detected rather than assumed: rootful or rootless, cgroup
 * v1 or v2, which OCI runtime to use (crun refuses to start containers on cgroup v1 hosts, so
 * runc is chosen there), and whether resource limits are enforced at all (rootless Podman on
 * cgroup v1 ignores them).
 */
export interface SandboxHost {
  podmanVersion: string
  rootless: boolean
  cgroupVersion: 'v1' | 'v2'
  /** The OCI runtime passed with --runtime. */
  ociRuntime: string
  limitsEnforced: boolean
  /**
   * Podman's default seccomp profile, tightened: no new namespaces (unshare, setns, clone
   * with CLONE_NEW* flags, clone3), which the default allows and which open more kernel to
   * a skill. Undefined when the host has no default profile to start from.
   */
  seccompProfile?: string
  /** RLIMIT_NPROC for the sandbox: counted per uid across the host, so the host's hard limit (pids-limit caps each container). */
  nprocLimit: number
  /** Who makes containers' cgroups: Podman itself (`cgroupfs`) or systemd (`systemd`). */
  cgroupManager: 'cgroupfs' | 'systemd'
  /** Where Podman records container events (`file`, `journald`, `none`): a run removed by `--rm` is asked there whether it started. */
  eventLogger: string
  /** Podman's image list (`<graphRoot>/<driver>-images/images.json`): it changes whenever an image is added, removed or tagged. */
  imageStore?: string
}

/** What is kept on disk: everything but the per-process ulimit. */
export type HostFacts = Omit<SandboxHost, 'nprocLimit'>

/** Where the host facts and the tightened seccomp profile live unless told otherwise. */
export function defaultCacheDir (): string {
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'aas')
}

const DEFAULT_SECCOMP = '/usr/share/containers/seccomp.json'
/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: clone may be called only with none of them. */
const CLONE_NAMESPACE_FLAGS = 0x7E020000

/** Writes the tightened profile next to the image cache; its name follows its content. */
async function tightenedSeccomp (dir: string): Promise<string | undefined> {
  let profile: any
  try {
    profile = JSON.parse(await readFile(DEFAULT_SECCOMP, 'utf8'))
  } catch { return undefined }
  const banned = new Set(['unshare', 'setns', 'clone', 'clone3'])
  for (const rule of profile.syscalls ?? []) {
    if (Array.isArray(rule.names)) rule.names = rule.names.filter((n: string) => !banned.has(n))
  }
  profile.syscalls = (profile.syscalls ?? []).filter((r: any) => !Array.isArray(r.names) || r.names.length > 0)
  profile.syscalls.push(
    { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }, // ENOSYS: libc falls back to clone
    { names: ['unshare', 'setns'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 } // EPERM
  )
  const text = JSON.stringify(profile)
  const file = join(dir, `seccomp-${createHash('sha256').update(text).digest('hex').slice(0, 12)}.json`)
  if (await readFile(file, 'utf8').catch(() => null) === text) return file
  await mkdir(dir, { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, text, { mode: 0o644 })
  await rename(tmp, file)
  return file
}

async function hardNprocLimit (): Promise<number> {
  const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '')
  const m = /^Max processes\s+\S+\s+(\d+|unlimited)/m.exec(limits)
  const hard = m == null ? 4096 : m[1] === 'unlimited' ? 1 << 20 : Number(m[1])
  // podman refuses values near the hard limit on some hosts; 4096 is well above any pids-limit we set
  return Math.max(64, Math.min(hard, 4096))
}

export const PODMAN_PACKAGES = 'podman and runc'

export async function requirePodman (): Promise<string> {
  try {
    const { stdout } = await run('podman', ['--version'])
    return stdout.trim().replace(/^podman version /, '')
  } catch {
    throw new SandboxError(`podman is not installed: install the Debian packages ${PODMAN_PACKAGES} (apt-get install podman runc)`, 'ERR_PODMAN_MISSING')
  }
}

async function has (cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v ${cmd}`])
    return true
  } catch { return false }
}

/**
 * What would change the host facts: the podman and runc binaries (an upgrade), Podman's
 * configuration and storage configuration files, the default seccomp profile, the boot (cgroup
 * v1/v2 is chosen at boot), the user (rootful or rootless) and the environment variables that
 * point Podman at other configuration. Costs a few stat calls, no process.
 */
export async function hostFactsKey (env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const config = env.XDG_CONFIG_HOME ?? join(homedir(), '.config')
  const files = [
    '/etc/containers/containers.conf', '/usr/share/containers/containers.conf',
    '/etc/containers/storage.conf', '/usr/share/containers/storage.conf',
    join(config, 'containers', 'containers.conf'), join(config, 'containers', 'storage.conf'),
    DEFAULT_SECCOMP
  ]
  const parts = [
    await whichStamp('podman', env.PATH), await whichStamp('runc', env.PATH), await whichStamp('crun', env.PATH),
    ...await Promise.all(files.map(fileStamp)),
    (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim(),
    `uid=${process.getuid?.() ?? -1}`,
    `env=${env.CONTAINERS_CONF ?? ''}|${env.CONTAINERS_STORAGE_CONF ?? ''}|${env.CONTAINER_HOST ?? ''}`
  ]
  return createHash('sha256').update(parts.join('\n')).digest('hex')
}

function validFacts (f: unknown): f is HostFacts {
  const h = f as Partial<HostFacts> | null
  return h != null && typeof h === 'object' && typeof h.podmanVersion === 'string' && typeof h.rootless === 'boolean' &&
    (h.cgroupVersion === 'v1' || h.cgroupVersion === 'v2') && typeof h.ociRuntime === 'string' && h.ociRuntime !== '' &&
    typeof h.limitsEnforced === 'boolean' && (h.cgroupManager === 'cgroupfs' || h.cgroupManager === 'systemd') &&
    typeof h.eventLogger === 'string' && (h.seccompProfile === undefined || typeof h.seccompProfile === 'string') &&
    (h.imageStore === undefined || typeof h.imageStore === 'string')
}

/** Asks Podman (podman --version, podman info) what this host is: ~0.3 s and a dozen processes. */
export async function probeHost (cacheDir: string): Promise<HostFacts> {
  const podmanVersion = await requirePodman()
  const { stdout } = await run('podman', ['info', '--format', 'json'], { maxBuffer: 8 << 20 })
    .catch((err: any) => { throw new SandboxError(`podman info failed: ${String(err.stderr ?? err.message).trim().split('\n')[0]}`, 'ERR_SANDBOX') })
  const info = JSON.parse(stdout)
  const cgroupVersion: 'v1' | 'v2' = info.host?.cgroupVersion === 'v2' ? 'v2' : 'v1'
  const rootless = info.host?.security?.rootless === true
  let ociRuntime: string = info.host?.ociRuntime?.name ?? 'runc'
  if (cgroupVersion === 'v1' || ociRuntime !== 'crun') {
    if (!await has('runc')) {
      throw new SandboxError(`this host uses cgroup ${cgroupVersion}, where only the runc OCI runtime works, and runc is not installed: apt-get install runc`, 'ERR_RUNTIME_MISSING')
    }
    ociRuntime = 'runc'
  }
  const cgroupManager = info.host?.cgroupManager === 'systemd' ? 'systemd' : 'cgroupfs'
  const eventLogger = typeof info.host?.eventLogger === 'string' ? info.host.eventLogger : 'none'
  const graphRoot = info.store?.graphRoot
  const driver = info.store?.graphDriverName
  const imageStore = typeof graphRoot === 'string' && typeof driver === 'string' ? join(graphRoot, `${driver}-images`, 'images.json') : undefined
  return { podmanVersion, rootless, cgroupVersion, ociRuntime, limitsEnforced: !(rootless && cgroupVersion === 'v1'), seccompProfile: await tightenedSeccomp(cacheDir), cgroupManager, eventLogger, imageStore }
}

export interface HostFactsInit {
  /** Where the facts file lives (default: the user's cache dir, see defaultCacheDir). */
  cacheDir?: string
  /** The key the file must carry (default: hostFactsKey()). */
  key?: string
  /** How facts are learned on a miss (default: probeHost). */
  probe?: (cacheDir: string) => Promise<HostFacts>
}

/**
 * The host's facts from the cache file when its key matches and it parses, else probed and
 * written back. No memo: every call reads the file (see detectHost for the per-process one).
 */
export async function loadHostFacts (init: HostFactsInit = {}): Promise<HostFacts> {
  const dir = init.cacheDir ?? defaultCacheDir()
  const key = init.key ?? await hostFactsKey()
  const file = join(dir, `podman-host-${process.getuid?.() ?? 'u'}.json`)
  const cached = await readFacts(file, key, validFacts)
  // the tightened profile is a file of its own in the same folder: gone means probe again
  if (cached != null && (cached.seccompProfile == null || await profileIntact(cached.seccompProfile))) return cached
  const facts = await (init.probe ?? probeHost)(dir)
  await writeFacts(file, key, facts)
  return facts
}

/** The profile's name carries its content's hash (tightenedSeccomp): a missing or altered file is made again. */
async function profileIntact (file: string): Promise<boolean> {
  const text = await readFile(file).catch(() => null)
  const m = /seccomp-([0-9a-f]{12})\.json$/.exec(file)
  return text != null && m != null && createHash('sha256').update(text).digest('hex').slice(0, 12) === m[1]
}

const memo = new Map<string, Promise<SandboxHost>>()

/** The host's facts, learned once per process and cache dir (and across processes through the cache file). */
export async function detectHost (init: { cacheDir?: string } = {}): Promise<SandboxHost> {
  const dir = init.cacheDir ?? defaultCacheDir()
  let p = memo.get(dir)
  if (p == null) {
    p = (async () => ({ ...await loadHostFacts({ cacheDir: dir }), nprocLimit: await hardNprocLimit() }))()
    memo.set(dir, p)
    p.catch(() => { memo.delete(dir) })
  }
  return await p
}

/** Whether a process exists (a pid another user owns counts): whose leftovers may be removed. */
export function processAlive (pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    return err.code === 'EPERM'
  }
}

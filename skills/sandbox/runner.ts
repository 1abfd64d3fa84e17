import { execFile, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { access, chown, chmod, copyFile, cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { promisify } from 'node:util'
import { loadManifest, schemaProblem, type Manifest } from '../manifest/index.js'
import { imageSpecs } from '../images/specs.js'
import { CappedCapture } from './capture.js'
import { defaultCacheDir, detectHost, processAlive, type SandboxHost } from './host.js'
import { fileStamp, readFacts, writeFacts } from './facts-cache.js'
import { SandboxError } from './errors.js'
import { cgroupMounts, readRunUsage, removeCgroup, removeIdleCgroups, type CgroupMounts } from './cgroup.js'
import { defaultSandboxOptions, effectiveLimits, type SandboxLimits, type SandboxOptions } from './options.js'
import type { KillReason, OutputFile, RunResult } from './result.js'

const exec = promisify(execFile)

/**
 * Runs one skill once in a fresh Podman container with no way out (DESIGN.md "Sandbox"):
 * no network, read-only root, every capability dropped, no new privileges, an unprivileged
 * user, cgroup limits on memory (swap equal to memory), CPU and processes, explicit ulimits,
 * a size-capped noexec /tmp, the skill read-only at /skill, the input read-only at /input and
 * on stdin, one writable /output whose files are size-capped. A wall-clock timer kills the
 * container with SIGKILL whatever the skill does with SIGTERM; stdout and stderr are read with
 * byte caps. Every container carries labels, so ones left behind by a killed node are found
 * and removed when a runner starts. Safe to call concurrently: each run has its own names.
 */
export const SANDBOX_LABEL = 'aas.sandbox'
const OWNER_LABEL = 'aas.pid'
const SKILL_PATH = '/skill'

export interface RunOptions {
  signal?: AbortSignal
  /** Copy the files the skill left in /output here (else they are discarded). */
  outputDir?: string
}

export interface SandboxRunnerComponents {
  /** Told of every run that reached the sandbox, as it ends (the node's metrics). */
  onRun?: (manifest: Manifest, result: RunResult) => void
}

export class SandboxRunner {
  readonly options: SandboxOptions
  /** Configured image → the content-tagged reference it resolved to (runs use and report that). */
  private readonly imagesSeen = new Map<string, string>()
  private readonly components: SandboxRunnerComponents
  private cgroups?: Promise<CgroupMounts | null>

  constructor (options: Partial<SandboxOptions> = {}, components: SandboxRunnerComponents = {}) {
    this.options = { ...defaultSandboxOptions, ...options }
    this.components = components
  }

  /** Where runs get their own cgroup: only rootful Podman makes cgroups we can place and read. */
  private async cgroupMounts (host: SandboxHost): Promise<CgroupMounts | null> {
    if (host.rootless) return null
    this.cgroups ??= cgroupMounts()
    return await this.cgroups
  }

  /** Removes containers of runners whose process is gone (a killed node leaves them). */
  async start (): Promise<number> {
    const host = await detectHost({ cacheDir: this.options.cacheDir })
    const { stdout } = await exec('podman', ['ps', '-a', '--filter', `label=${SANDBOX_LABEL}=1`, '--format', `{{.Names}} {{index .Labels "${OWNER_LABEL}"}}`])
    const stale = stdout.split('\n').map(l => l.trim().split(' ')).filter(([name, pid]) => name !== '' && !processAlive(Number(pid)))
    for (const [name] of stale) await this.remove(name, host)
    if (!host.rootless) await unmountStaleOutputs()
    const mounts = await this.cgroupMounts(host)
    if (mounts != null) {
      const { stdout: live } = await exec('podman', ['ps', '-a', '--filter', `label=${SANDBOX_LABEL}=1`, '--format', '{{.Names}}'])
      await removeIdleCgroups(mounts, this.options.cgroupParent, new Set(live.split('\n').map(l => l.trim()).filter(l => l !== '')))
    }
    return stale.length
  }

  /**
   * @param source a skill folder, or `{bundle}`: verified bundle bytes, unpacked straight into
   * the run's own folder (so what runs is exactly what was verified, whatever happened to any
   * unpacked copy on disk)
   */
  async run (source: string | { bundle: Uint8Array }, input: unknown, wish: Partial<SandboxLimits> = {}, opts: RunOptions = {}): Promise<RunResult> {
    // the bundle codec (CIDs, CBOR) is loaded only for bundles: a folder run (`aas skill run
    // DIR`, a new process each time) does not pay for its modules
    const manifest = typeof source === 'string' ? await loadManifest(source) : (await import('../bundle/index.js')).bundleManifest(source.bundle)
    const host = await detectHost({ cacheDir: this.options.cacheDir })
    if (!host.limitsEnforced && !this.options.allowUnenforcedLimits) {
      throw new SandboxError('this host cannot enforce sandbox limits (rootless Podman on cgroup v1): run the node as root, move to cgroup v2, or set sandbox.allowUnenforcedLimits to accept the risk', 'ERR_LIMITS_UNENFORCED')
    }
    const limits = effectiveLimits(this.options, manifest.resources, wish)
    let image = this.options.images[manifest.runtime]
    const base: RunResult = { status: 'error', exitCode: null, output: null, stdoutBytes: 0, stderrTail: '', durationMs: 0, limits, image, runtime: manifest.runtime, files: [], usage: null }

    const inputText = JSON.stringify(input ?? null)
    if (Buffer.byteLength(inputText) > this.options.maxInputBytes) {
      return { ...base, status: 'invalid-input', error: `input is ${Buffer.byteLength(inputText)} bytes, over the ${this.options.maxInputBytes} byte limit` }
    }
    const inputError = schemaProblem(manifest.inputSchema, input)
    if (inputError != null) return { ...base, status: 'invalid-input', error: `input ${inputError}` }
    image = base.image = await this.requireImage(image, host)

    // the pid in the name tells whose run it is: only a dead owner's leftovers are removed
    const work = await mkdtemp(join(tmpdir(), `aas-run-${process.pid}-`))
    const name = `aas-sbx-${randomBytes(8).toString('hex')}`
    const mounts = await this.cgroupMounts(host)
    const cgroup = mounts != null ? { mounts, path: join(this.options.cgroupParent, name) } : null
    // `podman run --rm` removes a container that ran its course itself; one we killed, or one
    // podman failed on, is removed here as well
    let leftBehind = true
    try {
      await mkdir(join(work, 'input'))
      await writeFile(join(work, 'input', 'input.json'), inputText, { mode: 0o644 })
      const outDir = join(work, 'output')
      await mkdir(outDir, { mode: 0o700 })
      // as root, /output is a tmpfs of the output cap: a skill cannot fill the host's disk
      if (!host.rootless) await mountOutput(outDir, this.options.maxOutputBytes)
      if (!host.rootless) await chown(outDir, 65534, 65534)
      else await chmod(outDir, 0o777)
      const skillCopy = join(work, 'skill')
      if (typeof source === 'string') await stageSkill(resolve(source), skillCopy)
      else {
        await stageBundle(source.bundle, skillCopy)
        await loadManifest(skillCopy) // the entrypoint must be one of its files
      }
      const { removed, ...result } = await this.exec(name, host, manifest, image, skillCopy, work, inputText, limits, cgroup, opts.signal)
      leftBehind = !removed
      const full = { ...base, ...result }
      const files = await collectFiles(outDir, this.options)
      full.files = files.files
      if (files.error != null && full.status === 'succeeded') Object.assign(full, { status: 'invalid-output', error: files.error })
      const human = needsHuman(full.status === 'succeeded' ? full.output : undefined)
      if (human != null) {
        // the skill's contract for "I cannot do this one": a person should (README "Human review")
        Object.assign(full, { status: 'needs-human', output: null, error: human })
      } else if (full.status === 'succeeded') {
        const outputError = schemaProblem(manifest.outputSchema, full.output)
        if (outputError != null) Object.assign(full, { status: 'invalid-output', error: `output ${outputError}` })
      }
      if (opts.outputDir != null && files.error == null && files.files.length > 0) await cp(outDir, opts.outputDir, { recursive: true })
      this.components.onRun?.(manifest, full)
      return full
    } finally {
      if (leftBehind) await this.remove(name, host)
      if (cgroup != null) await removeCgroup(cgroup.mounts, cgroup.path)
      await unmountOutput(join(work, 'output'))
      await rm(work, { recursive: true, force: true })
    }
  }

  private async exec (name: string, host: SandboxHost, manifest: Manifest, image: string, skillDir: string, work: string, inputText: string, limits: SandboxLimits, cgroup: { mounts: CgroupMounts, path: string } | null, signal?: AbortSignal): Promise<Partial<RunResult> & { removed: boolean }> {
    const o = this.options
    // --rm saves a `podman rm` process per run; whether a run that ended in a podman-looking
    // error had started is then asked of Podman's event log, so --rm only where there is one
    const autoRemove = host.eventLogger !== 'none'
    const args = [
      '--runtime', host.ociRuntime, ...cgroupManagerArgs(host, cgroup != null), 'run', ...(autoRemove ? ['--rm'] : []), '-i', '--pull', 'never', '--name', name,
      // the run's own cgroup, holding the container alone (conmon stays with the node): its
      // figures are the run's (see cgroup.ts)
      ...(cgroup != null ? ['--cgroups', 'no-conmon', '--cgroup-parent', cgroup.path] : []),
      '--label', `${SANDBOX_LABEL}=1`, '--label', `${OWNER_LABEL}=${process.pid}`,
      '--network', 'none', '--no-hosts', '--hostname', 'sandbox',
      '--read-only', '--read-only-tmpfs=false',
      '--cap-drop', 'all', '--security-opt', 'no-new-privileges',
      ...(host.seccompProfile != null ? ['--security-opt', `seccomp=${host.seccompProfile}`] : []),
      '--user', o.user,
      '--pids-limit', String(limits.pids),
      '--memory', `${limits.memoryMB}m`, '--memory-swap', `${limits.memoryMB}m`,
      '--cpus', String(limits.cpus),
      '--ulimit', 'nofile=256:256', '--ulimit', `nproc=${host.nprocLimit}:${host.nprocLimit}`, '--ulimit', 'core=0:0',
      '--ulimit', `fsize=${o.maxOutputFileBytes}:${o.maxOutputFileBytes}`,
      '--tmpfs', `/tmp:rw,size=${o.tmpMB}m,mode=1777,nosuid,nodev,noexec`,
      '--mount', `type=bind,source=${skillDir},destination=${SKILL_PATH},ro=true`,
      '--mount', `type=bind,source=${join(work, 'input')},destination=/input,ro=true`,
      '--mount', `type=bind,source=${join(work, 'output')},destination=/output,bind-propagation=rprivate`,
      '--workdir', '/tmp', '--log-driver', 'none',
      '--env', 'HOME=/tmp', '--env', 'LANG=C.UTF-8', '--env', 'PATH=/usr/local/bin:/usr/bin:/bin',
      '--env', 'PYTHONDONTWRITEBYTECODE=1', '--env', 'AAS_INPUT=/input/input.json', '--env', 'AAS_OUTPUT=/output',
      image,
      ...imageSpecs[manifest.runtime].command, ...(imageSpecs[manifest.runtime].memoryArgs?.(limits.memoryMB) ?? []),
      `${SKILL_PATH}/${manifest.entrypoint}`
    ]
    const started = performance.now()
    const since = new Date(Date.now() - 1000).toISOString()
    // cwd: the run's folder. conmon drops an 'oom' marker file in its working directory when
    // the OOM killer strikes; it must not land in whatever folder the node was started from
    const child = spawn('podman', args, { stdio: ['pipe', 'pipe', 'pipe'], env: podmanEnv(), cwd: work })
    let why: 'timeout' | 'killed' | 'output-cap' | undefined
    const kill = (reason: typeof why): void => {
      if (why != null) return
      why = reason
      void this.killContainer(name, host, child)
    }
    const stdout = new CappedCapture(child.stdout, o.maxStdoutBytes, false, () => { kill('output-cap') })
    const stderr = new CappedCapture(child.stderr, o.stderrTailBytes, true)
    child.stdin.on('error', () => {}) // a skill that never reads its input closes the pipe early
    child.stdin.end(inputText)
    const timer = setTimeout(() => { kill('timeout') }, limits.timeoutS * 1000)
    const onAbort = (): void => { kill('killed') }
    signal?.addEventListener('abort', onAbort, { once: true })
    if (signal?.aborted === true) onAbort()

    const exitCode = await new Promise<number | null>((resolve) => {
      child.on('error', () => { resolve(null) })
      child.on('close', (code) => { resolve(code) })
    })
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
    const durationMs = Math.round(performance.now() - started)
    // the container has exited: its cgroup is gone or going, its parent holds the whole run
    const usage = cgroup != null ? await readRunUsage(cgroup.mounts, cgroup.path) : null
    // the podman client removed the container only when it saw it to the end (and was asked to)
    const common = { exitCode, stdoutBytes: stdout.total, stderrTail: stderr.text(), durationMs, usage, removed: autoRemove && why == null && exitCode != null }
    const killed = (kill: KillReason): { kill: KillReason } => ({ kill })

    if (why === 'timeout') return { ...common, ...killed('timeout'), status: 'timeout', error: `killed after the ${limits.timeoutS} s timeout` }
    if (why === 'killed') return { ...common, ...killed('cancelled'), status: 'killed', error: 'cancelled' }
    if (why === 'output-cap') return { ...common, ...killed('output-cap'), status: 'killed', error: `stdout passed the ${o.maxStdoutBytes} byte cap` }
    // 137 = SIGKILL, and ours were handled above: inside, nothing can SIGKILL pid 1 but the
    // kernel's OOM killer (podman 4.3 on cgroup v1 does not set OOMKilled). conmon's own
    // record of an OOM kill is the 'oom' file it drops in its working directory, the run's
    // folder: read there rather than through a `podman inspect` process
    if (exitCode === 137 || await access(join(work, 'oom')).then(() => true, () => false)) return { ...common, ...killed('oom'), status: 'oom', error: `out of memory (limit ${limits.memoryMB} MB)` }
    if (exitCode === 125 || exitCode === 126 || exitCode === 127 || exitCode == null) {
      // podman's own failures (125: podman error; 126/127: the command could not run) happen
      // before the container starts; a skill exiting 125 with "Error:" is only the skill failing
      const line = stderr.text().trim().split('\n').pop() ?? ''
      if (exitCode == null || (/^Error: /.test(line) && !await this.started(name, autoRemove, since))) return { ...common, removed: false, status: 'error', error: line.replace(/^Error: /, 'podman: ') || 'podman failed' }
    }
    if (exitCode !== 0) return { ...common, status: 'failed', error: `the skill exited with code ${exitCode}` }
    try {
      return { ...common, status: 'succeeded', output: JSON.parse(stdout.text()) }
    } catch {
      return { ...common, status: 'invalid-output', error: 'stdout is not one JSON value' }
    }
  }

  private async killContainer (name: string, host: SandboxHost, child: ReturnType<typeof spawn>): Promise<void> {
    // retry until the podman client has exited: the container may still be starting
    while (child.exitCode == null && child.signalCode == null) {
      await exec('podman', ['--runtime', host.ociRuntime, ...cgroupManagerArgs(host, true), 'kill', '--signal', 'KILL', name], { env: podmanEnv() }).catch(() => {})
      await new Promise(resolve => setTimeout(resolve, 250))
    }
  }

  /** Whether the container reached its start: from the event log once --rm removed it, else from the container. */
  private async started (name: string, removed: boolean, since: string): Promise<boolean> {
    try {
      if (removed) {
        const { stdout } = await exec('podman', ['events', '--stream=false', '--since', since, '--filter', `container=${name}`, '--filter', 'event=start', '--format', '{{.Name}}'], { env: podmanEnv() })
        return stdout.split('\n').some(l => l.trim() === name)
      }
      const { stdout } = await exec('podman', ['inspect', '--format', '{{.State.StartedAt.IsZero}}', name], { env: podmanEnv() })
      return stdout.trim() === 'false'
    } catch { return false }
  }

  private async remove (name: string, host: SandboxHost): Promise<void> {
    await exec('podman', ['--runtime', host.ociRuntime, ...cgroupManagerArgs(host, true), 'rm', '-f', '--time', '0', name], { env: podmanEnv() }).catch(() => {})
  }

  /**
   * Checks the image is present and pins a moving tag (`:latest`) to its content tag. Kept in
   * memory, and on disk under the image list's size and mtime: any build, removal or tag
   * changes that file, and with it the key.
   */
  private async requireImage (image: string, host: SandboxHost): Promise<string> {
    const seen = this.imagesSeen.get(image)
    if (seen != null) return seen
    const file = join(this.options.cacheDir ?? defaultCacheDir(), `podman-images-${process.getuid?.() ?? 'u'}.json`)
    const key = host.imageStore != null ? await fileStamp(host.imageStore) : undefined
    const pins = key != null && !key.endsWith(':-') ? await readFacts(file, key, validPins) ?? {} : undefined
    const pin = pins?.[image]
    if (pin != null) {
      this.imagesSeen.set(image, pin)
      return pin
    }
    try {
      const { stdout } = await exec('podman', ['image', 'inspect', '--format', '{{json .RepoTags}}', image], { env: podmanEnv() })
      const repo = image.replace(/[:@][^:/]*$/, '')
      const tags = (JSON.parse(stdout.trim()) as string[] | null) ?? []
      const pinned = tags.find(t => t.startsWith(`${repo}:`) && !t.endsWith(':latest')) ?? image
      this.imagesSeen.set(image, pinned)
      if (pins != null && key != null) await writeFacts(file, key, { ...pins, [image]: pinned })
      return pinned
    } catch {
      throw new SandboxError(`runtime image ${image} is missing: build it with "aas images build"`, 'ERR_IMAGE_MISSING')
    }
  }
}

function validPins (f: unknown): f is Record<string, string> {
  return f != null && typeof f === 'object' && !Array.isArray(f) && Object.values(f).every(v => typeof v === 'string')
}

/**
 * Under systemd's cgroup manager a cgroup parent must be a slice and the container's scope
 * goes when it exits; Podman's own (cgroupfs) manager places the run's cgroup at a plain path
 * that outlives the container. Rootful only (the only case where runs get their own cgroup).
 */
function cgroupManagerArgs (host: SandboxHost, ownCgroup: boolean): string[] {
  return ownCgroup && !host.rootless && host.cgroupManager === 'systemd' ? ['--cgroup-manager', 'cgroupfs'] : []
}

/** A size-capped tmpfs (noexec) on the run's output folder; needs root. */
async function mountOutput (dir: string, maxBytes: number): Promise<void> {
  await exec('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil(maxBytes / 1024)}k,mode=0700,noexec,nosuid,nodev`, 'tmpfs', dir])
}

async function unmountOutput (dir: string): Promise<void> {
  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '')
  if (mounts.split('\n').some(l => l.split(' ')[1] === dir)) await exec('umount', ['-l', dir]).catch(() => {})
}

/** Output tmpfs mounts of runs a killed node left behind (other live nodes' runs are left alone). */
export async function unmountStaleOutputs (): Promise<number> {
  const mounts = await readFile('/proc/self/mounts', 'utf8').catch(() => '')
  const prefix = join(tmpdir(), 'aas-run-')
  const owner = (p: string): number => Number(p.slice(prefix.length).split('-')[0])
  const stale = mounts.split('\n').map(l => l.split(' ')[1])
    .filter((p): p is string => p != null && p.startsWith(prefix) && p.endsWith('/output') && !processAlive(owner(p)))
  for (const dir of stale) {
    await exec('umount', ['-l', dir]).catch(() => {})
    await rm(dirname(dir), { recursive: true, force: true }).catch(() => {})
  }
  return stale.length
}

/** Writes a bundle's files (decoded and checked again) into the run's folder. */
async function stageBundle (bytes: Uint8Array, to: string): Promise<void> {
  const { decodeBundle } = await import('../bundle/index.js')
  for (const f of decodeBundle(bytes)) {
    const at = join(to, ...f.path.split('/'))
    await mkdir(dirname(at), { recursive: true, mode: 0o755 })
    await writeFile(at, f.data, { mode: f.mode })
    await chmod(at, f.mode)
  }
  await mkdir(to, { recursive: true, mode: 0o755 })
  await chmod(to, 0o755)
}

/**
 * Copies the (already validated) skill folder into the run's own folder, readable by the
 * sandbox user whatever the source's owner and modes, and fixed for the run: a change to the
 * source folder during a run cannot swap what was checked. Only regular files and folders.
 */
async function stageSkill (from: string, to: string): Promise<void> {
  await mkdir(to, { mode: 0o755 })
  await chmod(to, 0o755)
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const src = join(from, entry.name)
    const dst = join(to, entry.name)
    if (entry.isDirectory()) await stageSkill(src, dst)
    else if (entry.isFile()) {
      const st = await lstat(src)
      await copyFile(src, dst)
      await chmod(dst, (st.mode & 0o111) !== 0 ? 0o755 : 0o644)
    }
  }
}


/** The podman client's environment: the host's, minus what would only slow or leak. */
function podmanEnv (): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const k of Object.keys(env)) if (k.startsWith('NODE_') || k.startsWith('AAS_')) delete env[k]
  return env
}

async function collectFiles (dir: string, o: SandboxOptions): Promise<{ files: OutputFile[], error?: string }> {
  const files: OutputFile[] = []
  let total = 0
  let error: string | undefined
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      if (files.length > 1000) return // reported below; listing more only costs the node
      const path = join(at, entry.name)
      if (entry.isDirectory()) { await walk(path); continue }
      const st = await lstat(path)
      if (!st.isFile()) { error ??= `/output/${relative(dir, path)} is not a regular file`; continue }
      total += st.size
      files.push({ path: relative(dir, path), size: st.size })
      if (files.length > 1000) error ??= 'more than 1000 files in /output'
    }
  }
  await walk(dir)
  if (total > o.maxOutputBytes) error ??= `/output holds ${total} bytes, over the ${o.maxOutputBytes} byte cap`
  return { files: files.sort((a, b) => a.path.localeCompare(b.path)), error }
}

/**
 * A skill asks for a human by printing `{"needsHuman": {"reason": "…"}}` and exiting 0: the
 * reason (at most 500 characters), or undefined when the output is anything else.
 */
export function needsHuman (output: unknown): string | undefined {
  if (output == null || typeof output !== 'object' || Array.isArray(output)) return undefined
  const keys = Object.keys(output)
  if (keys.length !== 1 || keys[0] !== 'needsHuman') return undefined
  const ask = (output as { needsHuman: unknown }).needsHuman
  const reason = ask != null && typeof ask === 'object' ? (ask as { reason?: unknown }).reason : undefined
  return (typeof reason === 'string' && reason.trim() !== '' ? reason : 'the skill asked for a human').slice(0, 500)
}

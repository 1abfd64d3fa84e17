import type { Runtime } from '../manifest/index.js'
import { imageName } from '../images/specs.js'

/**
 * The node's sandbox policy. A skill's manifest asks for resources; these options cap what
 * it may get and fill in what it did not ask for.
 */
export interface SandboxLimits {
  memoryMB: number
  cpus: number
  pids: number
  timeoutS: number
}

export interface SandboxOptions {
  /** Defaults for a skill that asks for nothing. */
  defaults: SandboxLimits
  /** Hard caps, whatever the manifest or the caller asks. */
  max: SandboxLimits
  /** Runtime → image reference (any registry image with the interpreter works too). */
  images: Record<Runtime, string>
  /** Largest stdout (the result JSON) kept; past it the run is killed. */
  maxStdoutBytes: number
  /** How much of stderr's end is kept for the report. */
  stderrTailBytes: number
  /** Largest single file, and all files together, a skill may leave in /output. */
  maxOutputFileBytes: number
  maxOutputBytes: number
  /** Size of the /tmp tmpfs. */
  tmpMB: number
  /** Largest input JSON. */
  maxInputBytes: number
  /** Run even where the host cannot enforce limits (rootless Podman on cgroup v1). */
  allowUnenforcedLimits: boolean
  /** The unprivileged uid:gid skills run as. */
  user: string
  /**
   * The cgroup (a path from each hierarchy's root) under which every run gets a cgroup of its
   * own, so its CPU time and peak memory can be read after it ends. Point it into the slice
   * systemd gives the sandboxes (`/aas.slice/aas-sandboxes.slice`) to cap them all together.
   */
  cgroupParent: string
  /**
   * Where the host facts (Podman's version, runtime, cgroup set-up) and the tightened seccomp
   * profile are cached between runs and processes; default: `$XDG_CACHE_HOME/aas` or `~/.cache/aas`.
   */
  cacheDir?: string
}

export const defaultSandboxOptions: SandboxOptions = {
  defaults: { memoryMB: 256, cpus: 1, pids: 64, timeoutS: 30 },
  max: { memoryMB: 2048, cpus: 2, pids: 256, timeoutS: 600 },
  images: { python3: `${imageName('python3')}:latest`, node: `${imageName('node')}:latest`, sh: `${imageName('sh')}:latest` },
  maxStdoutBytes: 1024 * 1024,
  stderrTailBytes: 4096,
  maxOutputFileBytes: 16 * 1024 * 1024,
  maxOutputBytes: 32 * 1024 * 1024,
  tmpMB: 64,
  maxInputBytes: 1024 * 1024,
  allowUnenforcedLimits: false,
  user: '65534:65534',
  cgroupParent: '/aas-sandboxes'
}

/** The limits of one run: the manifest's wish (or the default), then the caller's, capped by policy. */
export function effectiveLimits (options: SandboxOptions, ...wishes: Array<Partial<SandboxLimits> | undefined>): SandboxLimits {
  const out = { ...options.defaults }
  for (const w of wishes) {
    if (w == null) continue
    // only positive numbers count: podman reads `--cpus 0` as "no limit at all"
    for (const k of ['memoryMB', 'cpus', 'pids', 'timeoutS'] as const) {
      const v = w[k]
      if (typeof v === 'number' && Number.isFinite(v) && v > 0) out[k] = v
    }
  }
  for (const k of ['memoryMB', 'cpus', 'pids', 'timeoutS'] as const) out[k] = Math.min(out[k], options.max[k])
  return out
}

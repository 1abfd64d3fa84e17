import { readFile, readdir, rmdir } from 'node:fs/promises'
import { join } from 'node:path'

/**
 * What one sandbox run cost, read from the kernel's own accounting rather than sampled.
 *
 * Each run's container is placed under a cgroup of its own (`--cgroup-parent BASE/NAME`,
 * conmon kept out of it). The container's cgroup is deleted when the container exits, but
 * the kernel charges CPU time and memory to every ancestor as it goes, so the run's parent
 * keeps the whole run's figures after the container is gone: `cpuacct.usage` and
 * `memory.max_usage_in_bytes` on cgroup v1, `cpu.stat` `usage_usec` and `memory.peak` on v2.
 * The parent is read once the container has exited and removed once the container is.
 */
export interface RunUsage {
  /** CPU time (user + system) of every process of the run. */
  cpuSeconds: number
  /** The most memory charged to the run at once (resident and page cache), or null where the kernel does not keep it (cgroup v2 before Linux 5.19). */
  memoryPeakBytes: number | null
}

export interface CgroupMounts {
  version: 'v1' | 'v2'
  /** v1: where the cpuacct and memory hierarchies are mounted; v2: the unified root (both). */
  cpu: string
  memory: string
  /** v1: every hierarchy's mount point (podman creates the parent in each). */
  all: string[]
}

/** The cgroup mounts of this host, from /proc/self/mounts; null when neither is usable. */
export async function cgroupMounts (mountsText?: string): Promise<CgroupMounts | null> {
  const text = mountsText ?? await readFile('/proc/self/mounts', 'utf8').catch(() => '')
  const v1 = new Map<string, string>()
  const all: string[] = []
  let unified: string | undefined
  for (const line of text.split('\n')) {
    const [, at, type, opts] = line.split(' ')
    if (at == null || opts == null) continue
    if (type === 'cgroup') {
      all.push(at)
      for (const o of opts.split(',')) v1.set(o, at)
    } else if (type === 'cgroup2') unified ??= at
  }
  const cpu = v1.get('cpuacct')
  const memory = v1.get('memory')
  if (cpu != null && memory != null) return { version: 'v1', cpu, memory, all }
  // a v2 hierarchy counts only where it holds the controllers (not the empty one of hybrid hosts)
  if (unified != null) {
    const controllers = await readFile(join(unified, 'cgroup.controllers'), 'utf8').catch(() => '')
    if (/\bcpu\b/.test(controllers) && /\bmemory\b/.test(controllers)) return { version: 'v2', cpu: unified, memory: unified, all: [unified] }
  }
  return null
}

/** The run's figures from its parent cgroup `path` (relative to each hierarchy's root); null if unreadable. */
export async function readRunUsage (mounts: CgroupMounts, path: string): Promise<RunUsage | null> {
  try {
    if (mounts.version === 'v1') {
      const ns = Number((await readFile(join(mounts.cpu, path, 'cpuacct.usage'), 'utf8')).trim())
      const peak = Number((await readFile(join(mounts.memory, path, 'memory.max_usage_in_bytes'), 'utf8')).trim())
      if (!Number.isFinite(ns) || !Number.isFinite(peak)) return null
      return { cpuSeconds: ns / 1e9, memoryPeakBytes: peak }
    }
    const stat = await readFile(join(mounts.cpu, path, 'cpu.stat'), 'utf8')
    const usec = /^usage_usec (\d+)$/m.exec(stat)
    if (usec == null) return null
    const peak = await readFile(join(mounts.memory, path, 'memory.peak'), 'utf8').then(t => Number(t.trim()), () => null)
    return { cpuSeconds: Number(usec[1]) / 1e6, memoryPeakBytes: peak != null && Number.isFinite(peak) ? peak : null }
  } catch {
    return null
  }
}

/**
 * Removes the run's cgroup `path` in every hierarchy, children first. A cgroup that still
 * holds a process or a live child stays (the kernel refuses with EBUSY): nothing is forced.
 */
export async function removeCgroup (mounts: CgroupMounts, path: string): Promise<void> {
  const drop = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    for (const e of entries) if (e.isDirectory()) await drop(join(dir, e.name))
    await rmdir(dir).catch(() => {})
  }
  for (const root of mounts.all) await drop(join(root, path))
}

/**
 * Removes the per-run cgroups under `base` (named after their container) whose container is
 * not in `live`: a killed node leaves them behind.
 */
export async function removeIdleCgroups (mounts: CgroupMounts, base: string, live: Set<string>): Promise<void> {
  for (const root of mounts.all) {
    const entries = await readdir(join(root, base), { withFileTypes: true }).catch(() => [])
    for (const e of entries) if (e.isDirectory() && !live.has(e.name)) await removeCgroup({ ...mounts, all: [root] }, join(base, e.name))
  }
}

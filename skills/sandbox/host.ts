import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { SandboxError } from './errors.js'

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

let cached: Promise<SandboxHost> | undefined

export async function detectHost (): Promise<SandboxHost> {
  cached ??= (async () => {
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
    return { podmanVersion, rootless, cgroupVersion, ociRuntime, limitsEnforced: !(rootless && cgroupVersion === 'v1') }
  })()
  cached.catch(() => { cached = undefined })
  return await cached
}

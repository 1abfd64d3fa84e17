import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

const exec = promisify(execFile)

/**
 * The full ids of the sandbox containers a process owns (the runner labels each container
 * with its own pid): running ones, or with `all`, in any state. Seen from the host through
 * Podman, so a test can observe a run start, overlap other runs, and be gone.
 */
export async function sandboxContainers (ownerPid: number, opts: { all?: boolean } = {}): Promise<string[]> {
  const { stdout } = await exec('podman', ['ps', ...(opts.all === true ? ['-a'] : []), '--no-trunc', '--filter', 'label=aas.sandbox=1', '--filter', `label=aas.pid=${ownerPid}`, '--format', '{{.ID}}'])
  return stdout.split('\n').map(l => l.trim()).filter(l => l !== '')
}

import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

/**
 * Mocha root hooks (loaded by .mocharc.json): after the whole suite, no sandbox container may
 * be left behind (DESIGN.md "Sandbox"; issue acceptance: `podman ps -a` shows none with the
 * label). Every test stops its nodes and runners in its own hooks before this runs.
 */
const exec = promisify(execFile)

export const mochaHooks = {
  async afterAll (this: Mocha.Context) {
    this.timeout(30_000)
    let names = ''
    try {
      names = (await exec('podman', ['ps', '-a', '--filter', 'label=aas.sandbox=1', '--format', '{{.Names}}'])).stdout.trim()
    } catch {
      return // no podman here: no containers either
    }
    if (names !== '') throw new Error(`sandbox containers left behind after the suite: ${names.split('\n').join(', ')}`)
  }
}

import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { SandboxRunner, type RunResult } from '../../skills/sandbox/index.js'
import { REPO, tempDir } from '../utils/cli-node.js'
import { sandboxContainers } from '../utils/sandbox.js'

/**
 * Which podman processes a run starts, seen through a podman on PATH that logs its arguments
 * and hands over to the real one. With the host facts and the image pin cached (a fresh cache
 * dir, filled by the first run), a run is one `podman run` (--rm) and nothing else: no
 * --version, info, image inspect, inspect (the OOM flag) or rm; the mem-hog fixture is still
 * reported as 'oom', and no container is left behind.
 */
const FIXTURES = join(REPO, 'test', 'fixtures', 'hostile')

describe('sandbox: podman processes per run', function () {
  this.timeout(120_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let log: string
  let savedPath: string | undefined
  let runner: SandboxRunner

  const calls = async (): Promise<string[]> => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(l => l !== '')
  const describeRun = (r: RunResult): string => JSON.stringify({ status: r.status, error: r.error, exitCode: r.exitCode, stderrTail: r.stderrTail.slice(-400) })

  before(async () => {
    tmp = await tempDir('aas-procs-')
    const bin = join(tmp.path, 'bin')
    await mkdir(bin)
    log = join(tmp.path, 'podman.log')
    const real = await realPodman()
    await writeFile(join(bin, 'podman'), `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`)
    await chmod(join(bin, 'podman'), 0o755)
    savedPath = process.env.PATH
    process.env.PATH = `${bin}:${savedPath ?? '/usr/bin:/bin'}`
    runner = new SandboxRunner({ cacheDir: join(tmp.path, 'cache') })
  })

  after(async () => {
    process.env.PATH = savedPath
    await tmp.remove()
  })

  it('probes the host and the image once, into the cache dir', async () => {
    const r = await runner.run(join(FIXTURES, 'good'), { probe: 'first' })
    expect(r.status, describeRun(r)).to.equal('succeeded')
    const seen = await calls()
    expect(seen.some(l => l.startsWith('info ')), seen.join('\n')).to.equal(true)
    expect(seen.some(l => l.startsWith('image inspect ')), seen.join('\n')).to.equal(true)
    const files = await Promise.all(['podman-host', 'podman-images'].map(async f => await stat(join(tmp.path, 'cache', `${f}-${process.getuid?.() ?? 'u'}.json`))))
    for (const f of files) expect(f.mode & 0o777).to.equal(0o600)
  })

  it('then runs a skill with one podman run and nothing else, in a new runner as in a new CLI process', async () => {
    await writeFile(log, '')
    const fresh = new SandboxRunner({ cacheDir: join(tmp.path, 'cache') })
    const r = await fresh.run(join(FIXTURES, 'good'), { probe: 'second' })
    expect(r.status, describeRun(r)).to.equal('succeeded')
    const seen = await calls()
    expect(seen, seen.join('\n')).to.have.length(1)
    expect(seen[0]).to.match(/^--runtime \S+ .*run --rm -i /)
    expect(await sandboxContainers(process.pid, { all: true })).to.deep.equal([])
  })

  it("reports the mem-hog fixture as 'oom' without an inspect process, and leaves no container", async () => {
    await writeFile(log, '')
    const r = await runner.run(join(FIXTURES, 'mem-hog'), {})
    expect(r.status, describeRun(r)).to.equal('oom')
    expect(r.kill).to.equal('oom')
    expect(r.exitCode).to.equal(137)
    const seen = await calls()
    expect(seen.filter(l => !/\brun --rm\b/.test(l)), seen.join('\n')).to.deep.equal([])
    expect(await sandboxContainers(process.pid, { all: true })).to.deep.equal([])
  })
})

/** The podman the shim hands over to: the first on PATH before the shim goes in front. */
async function realPodman (): Promise<string> {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':')) {
    const at = join(dir, 'podman')
    if (await stat(at).then(s => s.isFile(), () => false)) return at
  }
  throw new Error('podman is not on PATH')
}

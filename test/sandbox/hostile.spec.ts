import { expect } from 'chai'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { SandboxRunner, processAlive, type RunResult } from '../../skills/sandbox/index.js'
import { REPO, tempDir, waitFor } from '../utils/cli-node.js'
import { sandboxContainers } from '../utils/sandbox.js'

/**
 * Hostile skills against the real runner and real Podman: each fixture under
 * test/fixtures/hostile/ tries one way out (network, DNS, fork bomb, memory, CPU, writes,
 * host files, privileges, output floods, signals, disk) and, where it can, reports what it
 * saw as JSON. Every test checks the containment, then that the runner still runs a good
 * skill; the file ends by checking that no sandbox container is left behind.
 */
const exec = promisify(execFile)
const FIXTURES = join(REPO, 'test', 'fixtures', 'hostile')
const fixture = (name: string): string => join(FIXTURES, name)
const SANDBOX_FILTER = 'label=aas.sandbox=1'


/**
 * Sandbox containers that should not exist: ours, and any whose owner process is dead.
 * (Containers of other live processes, e.g. another test run on the same host, are theirs.)
 */
async function strayContainers (): Promise<string[]> {
  const { stdout } = await exec('podman', ['ps', '-a', '--filter', SANDBOX_FILTER, '--format', '{{.ID}} {{index .Labels "aas.pid"}}'])
  return stdout.split('\n').map(l => l.trim()).filter(l => l !== '').filter((l) => {
    const pid = Number(l.split(' ')[1])
    return pid === process.pid || !processAlive(pid)
  })
}

/** The full ids of the sandbox containers this process has running now. */
async function ownRunningContainers (): Promise<string[]> {
  return await sandboxContainers(process.pid)
}

/** The sandbox containers of this process in any state: none once its runs have returned. */
async function ownContainers (): Promise<string[]> {
  return await sandboxContainers(process.pid, { all: true })
}

/** Host processes in a container's cgroup (any cgroup version or manager: the path names the id). */
async function hostProcessesOf (containerId: string): Promise<number[]> {
  const found: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const cgroup = await readFile(`/proc/${entry}/cgroup`, 'utf8').catch(() => '')
    if (cgroup.includes(containerId)) found.push(Number(entry))
  }
  return found
}

/**
 * Samples, from the host, our running sandbox containers: how many run at once, and how many
 * processes they hold. Samples follow each other with no pause: each one waits for `podman
 * ps` and a walk of /proc, and a pause would only let a short-lived container slip by.
 */
function watchContainers (): { stop: () => Promise<{ ids: string[], maxProcesses: number, maxRunning: number }> } {
  const ids = new Set<string>()
  let maxProcesses = 0
  let maxRunning = 0
  let running = true
  const loop = (async () => {
    while (running) {
      const now = await ownRunningContainers().catch(() => [])
      maxRunning = Math.max(maxRunning, now.length)
      for (const id of now) ids.add(id)
      for (const id of ids) maxProcesses = Math.max(maxProcesses, (await hostProcessesOf(id)).length)
    }
  })()
  return {
    stop: async () => {
      running = false
      await loop
      return { ids: [...ids], maxProcesses, maxRunning }
    }
  }
}

async function listen (host: string): Promise<{ server: Server, port: number, connections: () => number }> {
  let count = 0
  const server = createServer((socket) => { count++; socket.destroy() })
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, host, resolve) })
  return { server, port: (server.address() as any).port, connections: () => count }
}

async function close (server: Server): Promise<void> {
  await new Promise<void>(resolve => server.close(() => { resolve() }))
}

function describeRun (r: RunResult): string {
  return JSON.stringify({ status: r.status, error: r.error, exitCode: r.exitCode, durationMs: r.durationMs, output: r.output, stderrTail: r.stderrTail.slice(-600) })
}

describe('sandbox: hostile skills', function () {
  this.timeout(60_000)
  const runner = new SandboxRunner()

  /** The runner still works: a well-behaved skill succeeds with its own output. */
  async function expectHealthy (): Promise<void> {
    const probe = randomBytes(4).toString('hex')
    const r = await runner.run(fixture('good'), { probe })
    expect(r.status, describeRun(r)).to.equal('succeeded')
    expect(r.output).to.deep.equal({ ok: true, echo: { probe } })
  }

  before(async () => {
    await runner.start()
  })

  after(async () => {
    expect(await strayContainers(), 'sandbox containers left behind').to.deep.equal([])
  })

  it('cannot open a TCP connection to a listener on the host', async () => {
    const loopback = await listen('127.0.0.1')
    const anyAddr = await listen('0.0.0.0')
    try {
      const hostIps = Object.values(networkInterfaces()).flat()
        .filter(a => a != null && a.family === 'IPv4' && !a.internal).map(a => a!.address)
      const targets = [
        { host: '127.0.0.1', port: loopback.port },
        ...hostIps.map(host => ({ host, port: anyAddr.port }))
      ]
      const r = await runner.run(fixture('net-connect'), { targets })
      expect(r.status, describeRun(r)).to.equal('succeeded')
      const out = r.output as { attempts: Array<{ host: string, connected: boolean, error?: string }>, interfaces: string[] }
      expect(out.attempts).to.have.length(targets.length)
      for (const a of out.attempts) {
        expect(a.connected, `${a.host}: ${JSON.stringify(a)}`).to.equal(false)
        expect(a.error).to.match(/refused|unreachable|timed out|no route/i)
      }
      // 127.0.0.1 inside the container is the container's own loopback: nothing listens there
      expect(out.attempts[0].error).to.match(/ConnectionRefused/)
      expect(out.interfaces).to.deep.equal(['lo'])
      expect(loopback.connections(), 'connections seen by the 127.0.0.1 listener').to.equal(0)
      expect(anyAddr.connections(), 'connections seen by the 0.0.0.0 listener').to.equal(0)
    } finally {
      await close(loopback.server)
      await close(anyAddr.server)
    }
    await expectHealthy()
  })

  it('cannot resolve names or send a UDP packet to a public resolver', async () => {
    const names = ['localhost-probe.example', 'example.com', 'host.containers.internal']
    const r = await runner.run(fixture('dns-lookup'), { names })
    expect(r.status, describeRun(r)).to.equal('succeeded')
    const out = r.output as { lookups: Array<{ name: string, resolved: boolean, error?: string }>, udp: { sent: boolean, error?: string } }
    expect(out.lookups.map(l => l.name)).to.deep.equal(names)
    for (const l of out.lookups) {
      expect(l.resolved, JSON.stringify(l)).to.equal(false)
      expect(l.error).to.match(/gaierror/)
    }
    expect(out.udp.sent, JSON.stringify(out.udp)).to.equal(false)
    expect(out.udp.error).to.match(/unreachable/i)
    await expectHealthy()
  })

  it('contains a python fork bomb with the pids limit, and ends it at the timeout', async () => {
    const watch = watchContainers()
    const r = await runner.run(fixture('fork-bomb'), {})
    const seen = await watch.stop()
    expect(r.limits.pids).to.equal(16)
    expect(r.status, describeRun(r)).to.be.oneOf(['failed', 'timeout', 'killed'])
    expect(r.status).to.equal('timeout') // every process keeps forking: only the timer ends it
    expect(r.error).to.equal(`killed after the ${r.limits.timeoutS} s timeout`)
    expect(await ownContainers(), 'the container is gone').to.deep.equal([])
    // the bomb hit the limit from inside ...
    expect(r.stderrTail).to.match(/fork refused after \d+ forks: .*Resource temporarily unavailable/)
    // ... and from outside it never held more processes than the limit
    expect(seen.ids, 'the container was seen running').to.have.length(1)
    expect(seen.maxProcesses).to.be.within(2, r.limits.pids)
    expect(await hostProcessesOf(seen.ids[0]), 'processes left on the host').to.deep.equal([])
    // the host can still fork
    expect((await exec('sh', ['-c', 'echo forked'])).stdout.trim()).to.equal('forked')
    await expectHealthy()
  })

  it('contains a shell fork bomb with the pids limit', async () => {
    const watch = watchContainers()
    const r = await runner.run(fixture('fork-bomb-sh'), {})
    const seen = await watch.stop()
    expect(r.status, describeRun(r)).to.be.oneOf(['failed', 'timeout', 'killed'])
    if (r.status === 'timeout') expect(r.error).to.equal(`killed after the ${r.limits.timeoutS} s timeout`)
    expect(await ownContainers(), 'the container is gone').to.deep.equal([])
    expect(r.stderrTail).to.match(/Cannot fork/)
    expect(seen.maxProcesses).to.be.at.most(r.limits.pids)
    for (const id of seen.ids) expect(await hostProcessesOf(id), 'processes left on the host').to.deep.equal([])
    await expectHealthy()
  })

  describe('a memory hog (512 MB under a 64 MB limit)', () => {
    let r: RunResult
    const started = Date.now()

    before(async () => {
      r = await runner.run(fixture('mem-hog'), {})
    })

    it('is killed by the memory limit', async () => {
      expect(r.limits.memoryMB).to.equal(64)
      expect(r.status, describeRun(r)).to.be.oneOf(['oom', 'failed'])
      expect(r.exitCode).to.equal(137) // SIGKILL: the kernel's OOM killer, not the timer
      expect(r.error, 'not ended by the timer').to.not.match(/timeout/)
      expect(r.output).to.equal(null)
      const held = [...r.stderrTail.matchAll(/holding (\d+) MB/g)].map(m => Number(m[1]))
      expect(held.length).to.be.greaterThan(0)
      expect(Math.max(...held)).to.be.at.most(64)
      await expectHealthy()
    })

    it("is reported as 'oom'", function () {
      // podman 4.3 + runc + cgroup v1 does not set State.OOMKilled: the runner reads exit 137
      expect(r.status, describeRun(r)).to.equal('oom')
      expect(r.error).to.match(/out of memory \(limit 64 MB\)/)
    })

    it("leaves no 'oom' marker of conmon's in the node's working directory", async () => {
      const marker = await stat(join(process.cwd(), 'oom')).catch(() => null)
      expect(marker == null || marker.mtimeMs < started, 'an oom file written during this run').to.equal(true)
    })
  })

  it('ends a CPU spin at timeoutS 2 with status timeout', async () => {
    const r = await runner.run(fixture('cpu-spin'), {})
    expect(r.limits.timeoutS).to.equal(2)
    expect(r.status, describeRun(r)).to.equal('timeout')
    expect(r.error).to.equal('killed after the 2 s timeout')
    expect(r.output).to.equal(null)
    expect(await ownContainers(), 'the container is gone').to.deep.equal([])
    await expectHealthy()
  })

  describe('file system writes', () => {
    let r: RunResult
    let copied: string | undefined
    let fixtureBefore: string[]

    before(async () => {
      fixtureBefore = (await readdir(fixture('fs-write'))).sort()
      const out = await tempDir('aas-hostile-out-')
      try {
        r = await runner.run(fixture('fs-write'), {}, {}, { outputDir: out.path })
        copied = await readFile(join(out.path, 'ok.txt'), 'utf8').catch(() => undefined)
      } finally { await out.remove() }
    })

    it('fail everywhere but /output: /, /skill, /etc, /usr, /input, the cgroup files', async () => {
      expect(r.status, describeRun(r)).to.equal('succeeded')
      const out = r.output as { attempts: Record<string, string>, exec: Record<string, string>, output: string }
      for (const key of ['create /probe.txt', 'mkdir /probe-dir', 'create /skill/probe.txt', 'open /skill/main.py', 'open /skill/skill.json',
        'create /etc/probe.txt', 'open /etc/passwd', 'create /usr/bin/probe', 'create /input/probe.txt', 'open /input/input.json']) {
        expect(out.attempts, key).to.have.property(key)
      }
      expect(Object.keys(out.attempts).filter(k => k.includes('/sys/fs/cgroup')), 'cgroup limit files probed').to.not.have.length(0)
      for (const [what, result] of Object.entries(out.attempts)) {
        expect(result, what).to.not.equal('ok')
        expect(result, what).to.match(/Read-only file system|Permission denied/)
      }
      // a script dropped in /dev/shm (noexec tmpfs) cannot be run
      expect(out.exec['/dev/shm'], '/dev/shm exec').to.match(/^PermissionError/)
      // the skill's folder on the host is untouched
      expect((await readdir(fixture('fs-write'))).sort()).to.deep.equal(fixtureBefore)
      await expectHealthy()
    })

    it('work in /output: the file shows in result.files and is copied to outputDir', () => {
      expect((r.output as any).output).to.equal('ok')
      expect(r.files).to.deep.equal([{ path: 'ok.txt', size: 27 }])
      expect(copied).to.equal('written inside the sandbox\n')
    })

    it('work in /tmp, which is noexec', function () {
      const tmp = (r.output as any).tmp as { write: string, mode: string, uid: number }
      const exec = (r.output as any).exec as Record<string, string>
      // Known bug: runc copies the mode of the image's /tmp (0755 root) onto the tmpfs, so
      // uid 65534 cannot write its HOME and working directory. Runs once the image is fixed.
      expect(tmp.write, JSON.stringify(tmp)).to.equal('ok')
      expect(exec['/tmp'], '/tmp exec').to.match(/^PermissionError/)
    })
  })

  it('cannot read host files: the host /etc/shadow, a host temp dir, the repository', async () => {
    const dir = await tempDir('aas-hostile-secret-')
    try {
      const token = `secret-${randomBytes(16).toString('hex')}`
      const secretFile = join(dir.path, 'secret.txt')
      await writeFile(secretFile, token)
      const repoFile = join(REPO, 'package.json')
      const paths = [secretFile, dir.path, repoFile, '/etc/shadow']
      const r = await runner.run(fixture('host-read'), { paths })
      expect(r.status, describeRun(r)).to.equal('succeeded')
      const reads = (r.output as { reads: Array<{ path: string, ok: boolean, error?: string, content?: string, listing?: string[] }> }).reads
      expect(reads.map(x => x.path)).to.deep.equal(paths)
      for (const x of reads.slice(0, 3)) {
        expect(x.ok, JSON.stringify(x)).to.equal(false)
        expect(x.error).to.match(/FileNotFoundError/)
        expect(x.listing).to.equal(undefined)
      }
      expect(JSON.stringify(r.output)).to.not.include(token)
      expect(r.stderrTail).to.not.include(token)
      // the container has its own /etc: whatever it finds there is not the host's shadow file
      const shadow = reads[3]
      const hostShadow = await readFile('/etc/shadow', 'utf8').catch(() => undefined)
      if (shadow.ok) {
        expect(shadow.content).to.not.equal(hostShadow)
        const rootLine = hostShadow?.split('\n').find(l => l.startsWith('root:'))
        if (rootLine != null) expect(shadow.content).to.not.include(rootLine)
      } else {
        expect(shadow.error).to.match(/FileNotFoundError|PermissionError/)
      }
    } finally { await dir.remove() }
    await expectHealthy()
  })

  it('cannot gain privileges: setuid, mount, chroot, ptrace of a host process; no capabilities, no new privileges', async () => {
    const r = await runner.run(fixture('privesc'), { hostPid: process.pid })
    expect(r.status, describeRun(r)).to.equal('succeeded')
    const out = r.output as {
      attempts: Record<string, { ok: boolean, error?: string }>
      status: Record<string, string>
      pid: number
      visiblePids: number[]
      userns: Record<string, any>
    }
    for (const key of ['setuid(0)', 'setgid(0)', 'setgroups([0])', 'mount tmpfs on /output', 'remount / read-write', 'bind-mount / on /output', 'chroot(/)', 'ptrace attach host pid']) {
      expect(out.attempts, key).to.have.property(key)
    }
    for (const [what, result] of Object.entries(out.attempts)) {
      expect(result.ok, `${what}: ${JSON.stringify(result)}`).to.equal(false)
      expect(result.error, what).to.match(/not permitted|No such process/)
    }
    // the node's pid does not exist in the skill's pid namespace
    expect(out.attempts['ptrace attach host pid'].error).to.match(/No such process/)
    expect(out.visiblePids).to.deep.equal([out.pid])
    expect(out.status.Uid.split(/\s+/)).to.deep.equal(['65534', '65534', '65534', '65534'])
    expect(out.status.Gid.split(/\s+/)).to.deep.equal(['65534', '65534', '65534', '65534'])
    for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(out.status[cap], cap).to.equal('0000000000000000')
    expect(out.status.NoNewPrivs).to.equal('1')
    expect(out.status.Seccomp).to.equal('2')
    // no new namespaces: the runner's seccomp profile refuses unshare (Podman's default allows it)
    expect(out.userns.unshare.ok, JSON.stringify(out.userns.unshare)).to.equal(false)
    await expectHealthy()
  })

  it("kills a 100 MB stdout flood at the cap without buffering it ('killed')", async () => {
    const before = process.memoryUsage().rss
    const r = await runner.run(fixture('stdout-flood'), {})
    const grown = process.memoryUsage().rss - before
    expect(r.runtime).to.equal('node')
    expect(r.status, describeRun(r)).to.equal('killed')
    expect(r.error).to.match(/stdout passed the \d+ byte cap/)
    expect(r.error).to.include(String(runner.options.maxStdoutBytes))
    expect(r.stdoutBytes).to.be.greaterThan(runner.options.maxStdoutBytes)
    expect(r.output).to.equal(null)
    expect(grown, `rss grew by ${grown} bytes`).to.be.below(100 * 1024 * 1024)
    await expectHealthy()
  })

  it('kills a skill that ignores SIGTERM at the timeout: the run returns and its container is gone', async () => {
    const r = await runner.run(fixture('sigterm-trap'), {})
    expect(r.runtime).to.equal('sh')
    expect(r.limits.timeoutS).to.equal(2)
    expect(r.status, describeRun(r)).to.equal('timeout')
    expect(r.error).to.equal('killed after the 2 s timeout')
    expect(r.stderrTail).to.match(/ignoring SIGTERM/)
    expect(await ownContainers(), 'the container is gone').to.deep.equal([])
    await expectHealthy()
  })

  it('runs 4 skills at once, each with its own output and files', async () => {
    const outs = await Promise.all([0, 1, 2, 3].map(async () => await tempDir('aas-hostile-par-')))
    try {
      const tags = ['alpha', 'bravo', 'charlie', 'delta']
      // each sleeps 3 s (under a roomy timeout), so the four are running together for a while
      const watch = watchContainers()
      const results = await Promise.all(tags.map(async (tag, i) => await runner.run(fixture('good'), { tag, sleep: 3 }, { timeoutS: 30 }, { outputDir: outs[i].path })))
      const seen = await watch.stop()
      expect(seen.ids, 'sandbox containers seen').to.have.length(4)
      expect(seen.maxRunning, 'containers seen running at the same time').to.equal(4)
      for (const [i, r] of results.entries()) {
        expect(r.status, describeRun(r)).to.equal('succeeded')
        expect(r.output).to.deep.equal({ ok: true, echo: { tag: tags[i], sleep: 3 } })
        expect(r.files).to.deep.equal([{ path: `${tags[i]}.txt`, size: tags[i].length }])
        expect(await readdir(outs[i].path)).to.deep.equal([`${tags[i]}.txt`])
        expect(await readFile(join(outs[i].path, `${tags[i]}.txt`), 'utf8')).to.equal(tags[i])
      }
    } finally {
      await Promise.all(outs.map(async o => { await o.remove() }))
    }
    await expectHealthy()
  })

  it("stops a run when its AbortSignal fires ('killed')", async () => {
    const ac = new AbortController()
    // abort once the container runs (the skill then sleeps 30 s)
    const running = waitFor(async () => (await ownRunningContainers()).length === 1, 'the sandbox container to run', 30_000, 100)
    const run = runner.run(fixture('good'), { sleep: 30 }, { timeoutS: 40 }, { signal: ac.signal })
    await running
    ac.abort()
    const r = await run
    expect(r.status, describeRun(r)).to.equal('killed')
    expect(r.error).to.equal('cancelled')
    expect(r.output).to.equal(null)
    expect(r.stderrTail, 'the skill did not finish its sleep').to.not.include('good: done')
    expect(await ownContainers(), 'the container is gone').to.deep.equal([])
    await expectHealthy()
  })

  it('cannot write past the /output cap: the disk of the host is not filled (ENOSPC inside)', async () => {
    const out = await tempDir('aas-hostile-fill-')
    try {
      const r = await runner.run(fixture('disk-fill'), { files: 12, fileMB: 8 }, {}, { outputDir: out.path })
      const o = r.output as { bytesWritten: number, error: string | null }
      expect(r.status, describeRun(r)).to.equal('succeeded')
      // the writes stop at the cap, inside the sandbox: the host holds no more than that
      expect(o.error).to.match(/No space left on device|File too large/)
      expect(o.bytesWritten).to.be.at.most(runner.options.maxOutputBytes)
      expect(r.files.reduce((n, f) => n + f.size, 0)).to.be.at.most(runner.options.maxOutputBytes)
    } finally { await out.remove() }
    await expectHealthy()
  })

  describe('many empty files in /output (5000, no bytes)', () => {
    let r: RunResult

    before(async () => {
      r = await runner.run(fixture('many-files'), { count: 5000 })
    })

    it('make the run invalid-output', async () => {
      expect(r.status, describeRun(r)).to.equal('invalid-output')
      expect(r.error).to.match(/more than 1000 files/)
      await expectHealthy()
    })

    it('are listed only up to the limit', function () {
      // Known bug: collectFiles keeps walking and listing past 1000 entries, so a skill that
      // leaves millions of empty files costs the node minutes and a huge RunResult.
      expect(r.files.length).to.be.at.most(1001)
    })
  })

  it("cannot pass its own failure off as a podman error", async function () {
    const r = await runner.run(fixture('fake-podman-error'), {})
    await expectHealthy()
    // Known bug: exit codes 125-127 plus a last stderr line "Error: ..." are taken as podman's
    // own failure whatever printed them, so the skill's failure is reported as the host's.
    expect(r.status, describeRun(r)).to.equal('failed')
    expect(r.exitCode).to.equal(125)
  })

  it('start() removes a leftover sandbox container whose owner pid is dead, and keeps a live one', async () => {
    expect(processAlive(999999)).to.equal(false)
    const image = runner.options.images.sh
    const dead = (await exec('podman', ['create', '--label', 'aas.sandbox=1', '--label', 'aas.pid=999999', image, 'true'])).stdout.trim()
    const live = (await exec('podman', ['create', '--label', 'aas.sandbox=1', '--label', `aas.pid=${process.pid}`, image, 'true'])).stdout.trim()
    try {
      const removed = await runner.start()
      expect(removed).to.be.at.least(1)
      const exists = async (id: string): Promise<boolean> => await exec('podman', ['container', 'exists', id]).then(() => true, () => false)
      expect(await exists(dead), 'the dead owner\'s container').to.equal(false)
      expect(await exists(live), 'the live owner\'s container').to.equal(true)
    } finally {
      for (const id of [dead, live]) await exec('podman', ['rm', '-f', '--ignore', id]).catch(() => {})
    }
    await expectHealthy()
  })

  // last: mocha runs a suite's own tests before its nested suites, so this is a suite too
  describe('at the end', () => {
    it('leaves no sandbox container behind, and a good skill still succeeds', async () => {
      await waitFor(async () => (await strayContainers()).length === 0, 'no stray sandbox containers', 10_000, 200).catch(() => {})
      expect(await strayContainers()).to.deep.equal([])
      const { stdout } = await exec('podman', ['ps', '-a', '--filter', SANDBOX_FILTER, '--filter', `label=aas.pid=${process.pid}`, '-q'])
      expect(stdout.trim()).to.equal('')
      await expectHealthy()
    })
  })
})

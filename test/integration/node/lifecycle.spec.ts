import { expect } from 'chai'
import { readFile, stat, writeFile, chmod, readdir, mkdir } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { startCliNode, runCli, getJson, tempDir, type CliResult } from '../../utils/cli-node.js'

/** One clear line on stderr, no stack trace, the given exit code. */
function expectOneLineError (r: CliResult, exit: number, pattern: RegExp): void {
  expect(r.code, r.stderr).to.equal(exit)
  const lines = r.stderr.split('\n').filter(l => l.trim() !== '' && !l.startsWith('(run with --help'))
  expect(lines, r.stderr).to.have.length(1)
  expect(lines[0]).to.match(/^aas: /)
  expect(lines[0]).to.match(pattern)
  expect(r.stderr).to.not.match(/\n\s+at /)
}

async function snapshot (dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const f of await readdir(dir)) {
    const s = await stat(join(dir, f))
    out[f] = s.isFile() ? (await readFile(join(dir, f))).toString('base64') : 'dir'
  }
  return out
}

async function listenOn (): Promise<{ server: Server, port: number }> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { server, port: (server.address() as any).port }
}

describe('node lifecycle and CLI errors', function () {
  this.timeout(60_000)

  it('lists its commands with --help and exits 0', async () => {
    const r = await runCli(['--help'])
    expect(r.code).to.equal(0)
    expect(r.stdout).to.match(/^\s+node\b/m)
    const n = await runCli(['node', 'start', '--help'])
    expect(n.code).to.equal(0)
    for (const flag of ['--data', '--config', '--listen', '--bootstrap', '--api']) expect(n.stdout).to.include(flag)
  })

  it('keeps its peer id across restarts, with the identity file at mode 0600', async () => {
    const dir = await tempDir()
    try {
      const first = await startCliNode({ dataDir: dir.path })
      expect(await first.stop()).to.equal(0)
      expect((await stat(join(dir.path, 'identity.key'))).mode & 0o777).to.equal(0o600)
      expect((await stat(dir.path)).mode & 0o777).to.equal(0o700)
      const second = await startCliNode({ dataDir: dir.path })
      expect(second.peerId).to.equal(first.peerId)
      expect((await getJson(`${second.api}/v1/node`)).peerId).to.equal(first.peerId)
      expect(await second.stop()).to.equal(0)
    } finally { await dir.remove() }
  })

  it('refuses a second node on a data dir a running node holds, and leaves both alone', async () => {
    const running = await startCliNode()
    try {
      const before = await snapshot(running.dataDir)
      const r = await runCli(['node', 'start', '--data', running.dataDir, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'])
      expectOneLineError(r, 1, /in use by another running node/)
      expect(await snapshot(running.dataDir)).to.deep.equal(before)
      expect((await getJson(`${running.api}/healthz`)).status).to.equal('ok')
    } finally { await running.stop() }
  })

  it('refuses a listen port in use and an API port in use', async () => {
    const { server, port } = await listenOn()
    const dir = await tempDir()
    try {
      expectOneLineError(await runCli(['node', 'start', '--data', dir.path, '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--api', '127.0.0.1:0']), 1, /already in use/)
      const before = await snapshot(dir.path)
      expectOneLineError(await runCli(['node', 'start', '--data', dir.path, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', `127.0.0.1:${port}`]), 1, /API address .* already in use/)
      expect(await snapshot(dir.path)).to.deep.equal(before)
    } finally {
      server.close()
      await dir.remove()
    }
  })

  it('refuses bad configuration and bad usage with exit code 2', async () => {
    const dir = await tempDir()
    try {
      expectOneLineError(await runCli(['node', 'start', '--bogus']), 2, /unknown option '--bogus'/)
      expectOneLineError(await runCli(['node', 'start', '--data', dir.path, '--api', 'nowhere']), 2, /^aas: api: /)
      expectOneLineError(await runCli(['node', 'start', '--data', dir.path], { env: { AAS_LISTEN: 'junk' } }), 2, /^aas: listen: /)
      const file = join(dir.path, 'config.json')
      await writeFile(file, JSON.stringify({ mesh: { targetPeers: 'many' } }))
      expectOneLineError(await runCli(['node', 'start', '--data', dir.path, '--config', file]), 2, /mesh\.targetPeers/)
      expect(await readdir(dir.path)).to.deep.equal(['config.json'])
    } finally { await dir.remove() }
  })

  it('refuses an unusable data dir: a file, or one it may not read', async () => {
    const dir = await tempDir()
    try {
      const file = join(dir.path, 'file')
      await writeFile(file, 'keep me')
      expectOneLineError(await runCli(['node', 'start', '--data', file, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0']), 1, /cannot be used/)
      expect(await readFile(file, 'utf8')).to.equal('keep me')
      // root reads everything, so an unreadable dir is tested as an unprivileged user when we are root
      const locked = join(dir.path, 'locked')
      await mkdir(locked, { mode: 0o700 })
      await writeFile(join(locked, 'keep'), 'x')
      await chmod(dir.path, 0o755)
      const asNobody = process.getuid?.() === 0
      if (!asNobody) await chmod(locked, 0o000)
      const r = asNobody
        ? await runCli(['node', 'start', '--data', locked, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'], { uid: 65534, gid: 65534 })
        : await runCli(['node', 'start', '--data', locked, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0'])
      await chmod(locked, 0o700)
      expectOneLineError(r, 1, /cannot be used \(permission denied\)/)
      expect(await readdir(locked)).to.deep.equal(['keep'])
    } finally { await dir.remove() }
  })

  it('refuses an identity file others can read, and a corrupt one, without touching it', async () => {
    const dir = await tempDir()
    try {
      const node = await startCliNode({ dataDir: dir.path })
      await node.stop()
      const keyFile = join(dir.path, 'identity.key')
      const key = await readFile(keyFile)
      await chmod(keyFile, 0o644)
      expectOneLineError(await runCli(['node', 'start', '--data', dir.path, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0']), 1, /chmod 600/)
      expect(await readFile(keyFile)).to.deep.equal(key)
      await writeFile(keyFile, 'garbage', { mode: 0o600 })
      await chmod(keyFile, 0o600)
      expectOneLineError(await runCli(['node', 'start', '--data', dir.path, '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0']), 1, /not a valid ed25519 key/)
      expect(await readFile(keyFile, 'utf8')).to.equal('garbage')
    } finally { await dir.remove() }
  })

  it('says clearly when no node answers, and prints a stack only with --debug', async () => {
    const { server, port } = await listenOn()
    server.close()
    const r = await runCli(['node', 'status', '--api', `http://127.0.0.1:${port}`])
    expectOneLineError(r, 1, /no AAS node answers/)
    const d = await runCli(['node', 'status', '--api', `http://127.0.0.1:${port}`, '--debug'])
    expect(d.code).to.equal(1)
    expect(d.stderr).to.match(/\n\s+at /)
  })
})

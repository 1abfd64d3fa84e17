import { expect } from 'chai'
import { spawn, type ChildProcess } from 'node:child_process'
import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { childEnv, getJson, REPO } from '../utils/cli-node.js'
import { runNode } from './run-node.js'

/**
 * `npm run mesh`: three real node processes started through the CLI, each reachable on the
 * API it printed with at least two peers; a node killed behind the script's back is
 * reported; Ctrl-C stops every node, removes the temp data and exits 0.
 */
const MESH = join(REPO, 'dist', 'scripts', 'mesh.js')

interface Row { index: number, pid: number, peerId: string, api: string, addr: string }

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err: any) {
    return err.code !== 'ESRCH'
  }
}

/** Resolves once `text()` matches `re`; rejects if the process exits first or time runs out. */
async function waitForOutput (child: ChildProcess, text: () => string, re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  return await new Promise((resolve, reject) => {
    const check = (): void => {
      const m = text().match(re)
      if (m != null) { cleanup(); resolve(m) }
    }
    const onExit = (code: number | null): void => { cleanup(); reject(new Error(`mesh exited (${String(code)}) before printing ${String(re)}:\n${text()}`)) }
    const timer = setTimeout(() => { cleanup(); reject(new Error(`no ${String(re)} within ${timeoutMs} ms:\n${text()}`)) }, timeoutMs)
    const cleanup = (): void => {
      clearTimeout(timer)
      child.stdout!.off('data', check)
      child.stderr!.off('data', check)
      child.off('exit', onExit)
    }
    child.stdout!.on('data', check)
    child.stderr!.on('data', check)
    child.once('exit', onExit)
    check()
  })
}

describe('scripts/mesh: a local mesh of CLI nodes', function () {
  this.timeout(120_000)
  let mesh: ChildProcess | undefined
  let rows: Row[] = []

  after(() => {
    // a failed test must not leave processes behind
    if (mesh?.exitCode == null && mesh?.signalCode == null) mesh?.kill('SIGKILL')
    for (const r of rows) if (alive(r.pid)) process.kill(r.pid, 'SIGKILL')
  })

  it('--nodes 3: ready with ≥ 2 peers each, reports a dead node, stops all on SIGINT with exit 0', async () => {
    mesh = spawn(process.execPath, [MESH, '--nodes', '3'], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    mesh.stdout!.on('data', (d) => { stdout += String(d) })
    mesh.stderr!.on('data', (d) => { stderr += String(d) })
    const exited = new Promise<number | null>((resolve) => { mesh!.once('exit', (code) => { resolve(code) }) })

    await waitForOutput(mesh, () => stdout, /^mesh: ready: 3 node\(s\), each with at least 2 peer\(s\)/m, 60_000)
    const root = /^mesh: starting 3 node\(s\); data in (\S+) \(removed at exit\)$/m.exec(stdout)?.[1]
    expect(root, stdout).to.be.a('string')
    rows = [...stdout.matchAll(/^node-(\d+)\s+(\d+)\s+(\S+)\s+(http:\/\/127\.0\.0\.1:\d+)\s+(\S+)$/gm)]
      .map(m => ({ index: Number(m[1]), pid: Number(m[2]), peerId: m[3], api: m[4], addr: m[5] }))
    expect(rows.map(r => r.index)).to.deep.equal([0, 1, 2])
    expect(new Set(rows.map(r => r.peerId)).size).to.equal(3)

    for (const r of rows) {
      expect(r.addr).to.equal(`${r.addr.split('/p2p/')[0]}/p2p/${r.peerId}`)
      const info = await getJson(`${r.api}/v1/node`)
      expect(info.peerId).to.equal(r.peerId)
      expect(info.peers.length, `${r.api} peers`).to.be.at.least(2)
      expect(info.peers).to.include.members(rows.filter(x => x !== r).map(x => x.peerId))
    }

    // a node dying on its own is reported, and the others keep running
    process.kill(rows[2].pid, 'SIGKILL')
    await waitForOutput(mesh, () => stderr, new RegExp(`^mesh: node-2 \\(pid ${rows[2].pid}\\) exited unexpectedly \\(SIGKILL\\)`, 'm'), 10_000)
    expect(alive(rows[0].pid) && alive(rows[1].pid)).to.equal(true)

    mesh.kill('SIGINT')
    const code = await Promise.race([exited, new Promise<string>(resolve => setTimeout(() => { resolve('timeout') }, 20_000))])
    expect(code, stdout + stderr).to.equal(0)
    expect(stdout).to.match(/^mesh: stopped$/m)
    for (const r of rows) expect(alive(r.pid), `node-${r.index} (pid ${r.pid}) still running`).to.equal(false)
    const err = await access(root!).catch(e => e)
    expect(err?.code, `${root!} still exists`).to.equal('ENOENT')
  })

  it('bad usage exits 2 with one line and starts nothing', async () => {
    const r = await runNode([MESH, '--nodes', '0'])
    expect(r.code).to.equal(2)
    expect(r.stdout).to.equal('')
    expect(r.stderr).to.match(/^mesh: option '--nodes <n>' argument '0' is invalid/)
    const missing = await runNode([MESH])
    expect(missing.code).to.equal(2)
    expect(missing.stderr).to.match(/^mesh: required option '--nodes <n>' not specified/)
  })
})

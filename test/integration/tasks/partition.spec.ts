import { spawn, type ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { rmTree } from '../../../skills/bundle/index.js'
import { AAS_BIN, REPO, childEnv, runCli, tempDir, testTeam, waitFor } from '../../utils/cli-node.js'

/**
 * TARGETS.md R4, network partitions: three nodes, each in a network namespace of its own,
 * joined by a bridge in a fourth ("the switch"); a partition is a node's cable unplugged at
 * the switch (`ip link set … down`), healing plugs it back. Nothing here touches the host's
 * own network: every interface and address lives in namespaces this test creates and removes.
 * O originates (no slots); E1 and E2 execute. Leases are 3 s.
 */
const SLEEP = join(REPO, 'test', 'fixtures', 'skills', 'sleep')
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])
const PREFIX = `aas${process.pid % 10000}`
const SWITCH = `${PREFIX}-sw`
const NAMES = ['o', 'e1', 'e2'] as const
type Name = typeof NAMES[number]
const ADDR: Record<Name, string> = { o: '10.231.0.1', e1: '10.231.0.2', e2: '10.231.0.3' }
const API = 'http://127.0.0.1:7401' // inside each namespace: every node has its own loopback

async function sh (args: string[]): Promise<string> {
  return await new Promise((resolve, reject) => {
    const child = spawn(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: childEnv() })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += String(d) })
    child.stderr.on('data', (d) => { err += String(d) })
    child.on('close', (code) => { code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')}: ${err.trim()}`)) })
  })
}

const ns = (n: Name): string => `${PREFIX}-${n}`
// nsenter switches only the network namespace; `ip netns exec` would also remount /sys, which
// hides the cgroup mounts runc needs to start the sandboxes
const inNs = (n: Name, args: string[]): string[] => ['nsenter', `--net=/var/run/netns/${ns(n)}`, ...args]

/** GET/POST on a node's API, from inside its namespace. */
async function api<T = any> (n: Name, path: string, body?: unknown): Promise<T> {
  const script = `fetch(${JSON.stringify(API + path)}, ${body === undefined ? '{}' : JSON.stringify({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })}).then(async r => { const t = await r.text(); if (!r.ok) { process.stderr.write(t); process.exit(1) } process.stdout.write(t) })`
  return JSON.parse(await sh(inNs(n, [process.execPath, '-e', script])))
}

async function unplug (n: Name): Promise<void> { await sh(['ip', 'netns', 'exec', SWITCH, 'ip', 'link', 'set', `sw-${n}`, 'down']) }
async function plug (n: Name): Promise<void> { await sh(['ip', 'netns', 'exec', SWITCH, 'ip', 'link', 'set', `sw-${n}`, 'up']) }

describe('task lifecycle across network partitions (network namespaces)', function () {
  this.timeout(240_000)
  let tmp: Awaited<ReturnType<typeof tempDir>>
  const procs = new Map<Name, ChildProcess>()
  const peer: Partial<Record<Name, string>> = {}
  const nameOf = (id: string | null): Name | undefined => NAMES.find(n => peer[n] === id)

  before(async function () {
    this.timeout(240_000)
    tmp = await tempDir('aas-partition-')
    await sh(['ip', 'netns', 'add', SWITCH])
    await sh(['ip', 'netns', 'exec', SWITCH, 'ip', 'link', 'add', 'br0', 'type', 'bridge'])
    await sh(['ip', 'netns', 'exec', SWITCH, 'ip', 'link', 'set', 'br0', 'up'])
    for (const n of NAMES) {
      await sh(['ip', 'netns', 'add', ns(n)])
      await sh(['ip', 'link', 'add', `${PREFIX}${n}`, 'netns', ns(n), 'type', 'veth', 'peer', 'name', `sw-${n}`, 'netns', SWITCH])
      await sh(inNs(n, ['ip', 'link', 'set', 'lo', 'up']))
      await sh(inNs(n, ['ip', 'addr', 'add', `${ADDR[n]}/24`, 'dev', `${PREFIX}${n}`]))
      await sh(inNs(n, ['ip', 'link', 'set', `${PREFIX}${n}`, 'up']))
      await sh(['ip', 'netns', 'exec', SWITCH, 'ip', 'link', 'set', `sw-${n}`, 'master', 'br0'])
      await plug(n)
    }

    const keyFile = join(tmp.path, 'author.json')
    const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
    const author = JSON.parse(k.stdout).publicKey as string
    const config = join(tmp.path, 'node.json')
    await writeFile(config, JSON.stringify({ tasks: { leaseS: 3 }, gossip: { helloIntervalS: 2 } }))
    const team = await testTeam()
    for (const n of NAMES) {
      const args = [AAS_BIN, 'node', 'start', '--json', '--data', join(tmp.path, n), '--listen', `/ip4/${ADDR[n]}/tcp/7400`, '--api', '127.0.0.1:7401',
        '--log-level', 'warn', '--config', config, '--trust-author', author, '--slots', n === 'o' ? '0' : '1', ...await team.nodeArgs(join(tmp.path, n)),
        ...(n === 'o' ? [] : ['--bootstrap', `/ip4/${ADDR.o}/tcp/7400`])]
      const [cmd, ...rest] = inNs(n, [process.execPath, ...args])
      const child = spawn(cmd, rest, { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] })
      child.stderr!.resume()
      procs.set(n, child)
      peer[n] = await new Promise<string>((resolve, reject) => {
        let buf = ''
        child.stdout!.on('data', (d) => { buf += String(d); const nl = buf.indexOf('\n'); if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)).peerId) })
        child.once('exit', (code) => { reject(new Error(`node ${n} exited with ${String(code)}`)) })
      })
    }
    await waitFor(async () => {
      const counts = await Promise.all(NAMES.map(async n => (await api(n, '/v1/node')).peers.length as number))
      return counts.every(c => c >= 2)
    }, 'the three nodes to connect', 30_000, 500)
    const pub = await sh(inNs('o', [process.execPath, AAS_BIN, 'skill', 'publish', SLEEP, '--key', keyFile, '--api', API, '--json']))
    expect(JSON.parse(pub).name).to.equal('sleep-echo')
    for (const n of ['e1', 'e2'] as const) {
      await waitFor(async () => (await api(n, '/v1/skills/sleep-echo').catch(() => undefined))?.name === 'sleep-echo', `sleep-echo indexed on ${n}`, 15_000, 300)
      await sh(inNs(n, [process.execPath, AAS_BIN, 'skill', 'fetch', 'sleep-echo', '--api', API, '--json']))
    }
  })

  after(async function () {
    this.timeout(60_000)
    for (const p of procs.values()) p.kill('SIGTERM')
    await Promise.all([...procs.values()].map(async p => await new Promise(resolve => { if (p.exitCode != null || p.signalCode != null) resolve(null); else p.once('exit', resolve) })))
    for (const n of NAMES) await sh(['ip', 'netns', 'del', ns(n)]).catch(() => {})
    await sh(['ip', 'netns', 'del', SWITCH]).catch(() => {})
    if (tmp != null) await rmTree(tmp.path)
  })

  const task = async (id: string): Promise<any> => await api('o', `/v1/tasks/${id}`)
  const assigned = async (id: string): Promise<any> => await waitFor(async () => { const t = await task(id); return t.state === 'assigned' ? t : undefined }, `task ${id} to be assigned`, 20_000, 200)
  const ended = async (id: string, ms = 60_000): Promise<any> => await waitFor(async () => { const t = await task(id); return TERMINAL.has(t.state) ? t : undefined }, `task ${id} to end`, ms, 300)

  it('an executor cut off mid-run: the task succeeds on the other one; after healing, its late result is only recorded', async () => {
    const { id } = await api<{ id: string }>('o', '/v1/tasks', { skill: 'sleep-echo', input: { ms: 5000, tag: 'cut-executor' }, attempts: 3 })
    const first = await assigned(id)
    const cut = nameOf(first.executor)!
    expect(cut).to.be.oneOf(['e1', 'e2'])
    await unplug(cut)
    let t: any
    try {
      t = await ended(id)
    } finally {
      await plug(cut)
    }
    expect(t.state, JSON.stringify(t)).to.equal('succeeded')
    expect(nameOf(t.executor)).to.not.equal(cut)
    expect(t.output).to.deep.equal({ tag: 'cut-executor', slept: 5000 })
    // healed: the cut-off executor delivers the result it kept, and it is recorded, never accepted
    await waitFor(async () => (await api(cut, '/v1/memory')).executor.busy === 0, `${cut} to finish its run`, 30_000, 500)
    const after = await waitFor(async () => {
      const x = await task(id)
      return x.history.some((h: any) => h.state === 'late-result' && h.executor === first.executor) ? x : undefined
    }, `the late result of ${cut} to reach the origin`, 60_000, 500)
    expect(after.state).to.equal('succeeded')
    expect(after.executor).to.equal(t.executor)
    expect(after.history.filter((h: any) => h.state === 'succeeded')).to.have.length(1)
    expect(after.attemptsLog[0]).to.include({ attempt: 1, executor: first.executor, status: 'lease-expired' })
    expect(after.history.filter((h: any) => h.state === 'result' && h.executor === first.executor), JSON.stringify(after.history)).to.have.length(0)
  })

  it('the origin cut off while its executor runs: the executor keeps its signed result and delivers it after healing; accepted once', async () => {
    const { id } = await api<{ id: string }>('o', '/v1/tasks', { skill: 'sleep-echo', input: { ms: 2000, tag: 'cut-origin' }, attempts: 3 })
    const first = await assigned(id)
    const executor = nameOf(first.executor)!
    await unplug('o')
    // cut off past the run and the 3 s lease: the origin let the lease expire, and the
    // executor ended its run and could not deliver (its slot is freed after that first try)
    await waitFor(async () => (await task(id)).history.some((h: any) => h.state === 'lease-expired' && h.attempt === 1), 'the origin to let the lease expire', 30_000, 300)
    await waitFor(async () => (await api(executor, '/v1/memory')).executor.busy === 0, `${executor} to end its run`, 60_000, 300)
    expect((await task(id)).state, 'still open at the origin while cut off').to.be.oneOf(['offered', 'assigned'])
    await plug('o')
    const t = await ended(id)
    expect(t.state, JSON.stringify(t)).to.equal('succeeded')
    expect(t.output).to.deep.equal({ tag: 'cut-origin', slept: 2000 })
    console.log(`      history: ${t.history.map((h: any) => `${String(h.state)}#${String(h.attempt)}${h.executor != null ? `@${nameOf(h.executor) ?? '?'}` : ''}`).join(' ')}`)
    expect(t.history.filter((h: any) => h.state === 'succeeded')).to.have.length(1)
    // the first executor's result is the one accepted, or, if a second attempt won the race, the first is only recorded
    const accepted = t.attemptsLog.filter((a: any) => a.status === 'succeeded' || /ran after its lease expired: succeeded/.test(a.error ?? ''))
    expect(accepted.length, JSON.stringify(t.attemptsLog)).to.be.at.least(1)
    expect(t.attemptsLog[0].executor).to.equal(first.executor)
    // every run of the task is over (each sends its result before freeing its slot): nothing
    // is left to arrive, and the task was still accepted once
    await waitFor(async () => (await Promise.all((['e1', 'e2'] as const).map(async n => (await api(n, '/v1/memory')).executor.busy as number))).every(b => b === 0), 'both executors to be idle', 60_000, 300)
    const after = await task(id)
    expect(after.state).to.equal('succeeded')
    expect(after.history.filter((h: any) => h.state === 'succeeded')).to.have.length(1)
    expect(after.output).to.deep.equal(t.output)
  })
})

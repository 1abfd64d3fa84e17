import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { rmTree } from '../../../skills/bundle/index.js'
import { REPO, runCli, startCliNode, getJson, waitFor, tempDir, type CliNode } from '../../utils/cli-node.js'

/**
 * TARGETS.md R4, clock jumps: an executor's wall clock jumps ten minutes ahead in the middle
 * of a run (libfaketime, reading its offset from a file the test rewrites; the monotonic clock
 * that drives timers is left alone). Everything it signs is now "from the future" for the
 * others: its lease renewals and its result are refused, so its lease runs out and the task
 * succeeds on the other executor, once. When its clock comes back, it works again.
 */
const SLEEP = join(REPO, 'test', 'fixtures', 'skills', 'sleep')
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1'
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])

describe('task lifecycle across a clock jump (libfaketime)', function () {
  this.timeout(180_000)
  let tmp: Awaited<ReturnType<typeof tempDir>>
  const nodes: CliNode[] = []
  let o: CliNode
  let skewed: CliNode
  let honest: CliNode
  let clockFile: string

  before(async function () {
    this.timeout(180_000)
    expect(existsSync(LIBFAKETIME), `${LIBFAKETIME} (Debian package libfaketime; scripts/setup.sh installs it)`).to.equal(true)
    tmp = await tempDir('aas-clock-')
    const keyFile = join(tmp.path, 'author.json')
    const author = JSON.parse((await runCli(['keys', 'new', '--out', keyFile, '--json'])).stdout).publicKey as string
    const config = join(tmp.path, 'node.json')
    await writeFile(config, JSON.stringify({ tasks: { leaseS: 3 }, gossip: { helloIntervalS: 2 } }))
    clockFile = join(tmp.path, 'skewed.clock')
    await writeFile(clockFile, '+0\n')
    const args = (slots: number): string[] => ['--config', config, '--slots', String(slots), '--trust-author', author]
    o = await startCliNode({ dataDir: join(tmp.path, 'o'), args: args(0), timeoutMs: 30_000 })
    nodes.push(o)
    skewed = await startCliNode({
      dataDir: join(tmp.path, 'skewed'), bootstrap: [o.addresses[0]], args: args(1), timeoutMs: 30_000,
      env: { LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: clockFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1', FAKETIME_DONT_RESET: '1' }
    })
    nodes.push(skewed)
    honest = await startCliNode({ dataDir: join(tmp.path, 'honest'), bootstrap: [o.addresses[0]], args: args(1), timeoutMs: 30_000 })
    nodes.push(honest)
    await waitFor(async () => (await Promise.all(nodes.map(async n => (await getJson(`${n.api}/v1/node`)).peers.length as number))).every(c => c >= 2), 'a full mesh', 30_000, 300)
    const pub = await runCli(['skill', 'publish', SLEEP, '--key', keyFile, '--api', o.api, '--json'], { timeoutMs: 90_000 })
    expect(pub.code, pub.stderr).to.equal(0)
    for (const n of [skewed, honest]) {
      await waitFor(async () => (await getJson(`${n.api}/v1/skills/sleep-echo`).catch(() => undefined))?.name === 'sleep-echo', 'sleep-echo indexed', 15_000, 200)
      const f = await runCli(['skill', 'fetch', 'sleep-echo', '--api', n.api, '--json'], { timeoutMs: 60_000 })
      expect(f.code, f.stderr).to.equal(0)
    }
  })

  after(async function () {
    this.timeout(60_000)
    for (const n of nodes) await n.stop().catch(() => {})
    if (tmp != null) await rmTree(tmp.path)
  })

  const task = async (id: string): Promise<any> => await getJson(`${o.api}/v1/tasks/${id}`)
  const submit = async (input: unknown): Promise<string> => {
    const res = await fetch(`${o.api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ skill: 'sleep-echo', input, attempts: 3 }) })
    expect(res.status).to.equal(201)
    return (await res.json() as { id: string }).id
  }

  it('an executor whose clock jumps 10 min ahead mid-run loses its lease; the task succeeds on the other executor, once', async () => {
    // two tasks at once: each executor (1 slot) takes one
    const ids = [await submit({ ms: 5000, tag: 'jump-0' }), await submit({ ms: 5000, tag: 'jump-1' })]
    const assigned = await waitFor(async () => {
      const ts = await Promise.all(ids.map(task))
      return ts.every(t => t.state === 'assigned') ? ts : undefined
    }, 'both tasks assigned', 20_000, 100)
    const onSkewed = assigned.find(t => t.executor === skewed.peerId)
    expect(onSkewed, 'one task on the executor whose clock will jump').to.not.equal(undefined)
    await writeFile(clockFile, '+600s\n')
    try {
      const t = await waitFor(async () => { const x = await task(onSkewed.id); return TERMINAL.has(x.state) ? x : undefined }, 'the task to end', 60_000, 300)
      expect(t.state, JSON.stringify(t)).to.equal('succeeded')
      expect(t.executor).to.equal(honest.peerId)
      expect(t.output).to.deep.equal(onSkewed.id === ids[0] ? { tag: 'jump-0', slept: 5000 } : { tag: 'jump-1', slept: 5000 })
      expect(t.history.filter((h: any) => h.state === 'succeeded')).to.have.length(1)
      expect(t.history.filter((h: any) => h.state === 'result' && h.executor === skewed.peerId), JSON.stringify(t.history)).to.have.length(0)
      expect(t.attemptsLog[0]).to.include({ executor: skewed.peerId, status: 'lease-expired' })
      // its gossip is refused as from the future, and counted
      const metrics = await (await fetch(`${o.api}/metrics`)).text()
      expect(metrics).to.match(/aas_gossip_messages_total\{topic="\/aas\/1\/hello",result="reject",reason="future"\} [1-9]/)
    } finally {
      await writeFile(clockFile, '+0\n')
    }
    const other = await waitFor(async () => { const x = await task(ids.find(i => i !== onSkewed.id)!); return TERMINAL.has(x.state) ? x : undefined }, 'the other task to end', 30_000, 300)
    expect(other.state).to.equal('succeeded')
  })

  it('with its clock back, its messages are on time again and it runs work', async () => {
    // peers scored it down for the rejected messages (gossipsub forgives slowly), but nothing
    // it signs now is refused, and it runs what it is given
    const future = async (): Promise<number> => Number(/aas_gossip_messages_total\{topic="\/aas\/1\/hello",result="reject",reason="future"\} (\d+)/.exec(await (await fetch(`${o.api}/metrics`)).text())?.[1] ?? 0)
    const hellosSent = async (): Promise<number> => Number(/aas_gossip_published_total\{topic="\/aas\/1\/hello"\} (\d+)/.exec(await (await fetch(`${skewed.api}/metrics`)).text())?.[1] ?? 0)
    await waitFor(async () => (await getJson(`${skewed.api}/v1/memory`)).executor.busy === 0, 'the skewed executor to be idle', 30_000, 300)
    const before = await future()
    const sent = await hellosSent()
    // it gossips two more hellos (every 2 s), and O refuses none of them as from the future.
    // (Whether O hands them on depends on how far gossipsub scored it down for the refused
    // ones, which it forgives slowly: not what this test is about.)
    await waitFor(async () => await hellosSent() >= sent + 2, 'two more hellos from it', 30_000, 300)
    await waitFor(async () => { const peers = (await getJson(`${o.api}/v1/peers`)) as any; return JSON.stringify(peers).includes(skewed.peerId) }, 'O still connected to it', 10_000, 300)
    expect(await future()).to.equal(before)
    const res = await fetch(`${skewed.api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ skill: 'sleep-echo', input: { ms: 100, tag: 'back' } }) })
    const { id } = await res.json() as { id: string }
    const t = await waitFor(async () => { const x = await getJson(`${skewed.api}/v1/tasks/${id}`); return TERMINAL.has(x.state) ? x : undefined }, 'its own task to end', 60_000, 300)
    expect(t.state, JSON.stringify(t)).to.equal('succeeded')
    expect(t.output).to.deep.equal({ tag: 'back', slept: 100 })
  })
})

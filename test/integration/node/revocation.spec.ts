import { join } from 'node:path'
import { expect } from 'chai'
import { Protocols, Topics } from '../../../protocol/index.js'
import { loadOrCreateIdentity } from '../../../node/identity.js'
import { rmTree } from '../../../skills/bundle/index.js'
import { REPO, runCli, startCliNode, getJson, waitFor, tempDir, testTeam, type CliNode, freePort } from '../../utils/cli-node.js'
import { Outsider, metricSum, metricsOf } from '../../utils/outsider.js'

/**
 * Issue 9, acceptance: a revoked key is refused by every node within one gossip round, and its
 * running tasks are offered again. A team of three real nodes: A originates (no slots), B and C
 * execute. While one of them runs a long task of A's, the team admin revokes it with the real
 * CLI (`aas team revoke PEER --key team.key --api A`): every other node lists the revocation
 * and refuses the key (its hellos and requests are rejected as `revoked`), its connections are
 * dropped, and A offers the task again, which succeeds on the other executor. A, restarted on
 * its data dir, still refuses it (revocations are kept in LevelDB).
 */
const SLEEP = join(REPO, 'test', 'fixtures', 'skills', 'sleep')

describe('revoking a team member while it runs a task (issue 9)', function () {
  this.timeout(300_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let author: string
  let a: CliNode, b: CliNode, c: CliNode
  let aArgs: string[]
  const nodes: CliNode[] = []
  let victim: CliNode
  let other: CliNode
  let taskId: string
  const extra: Outsider[] = []

  const start = async (name: string, bootstrap: string[], args: string[]): Promise<CliNode> => {
    const n = await startCliNode({ dataDir: join(tmp.path, name), bootstrap, args: [...args, '--trust-author', author], timeoutMs: 30_000 })
    nodes.push(n)
    return n
  }
  const peerIds = async (n: CliNode): Promise<string[]> => (await getJson(`${n.api}/v1/peers`)).peers.map((p: any) => p.peerId)
  const revoked = async (n: CliNode): Promise<string[]> => (await getJson(`${n.api}/v1/team`)).revocations.map((r: any) => r.peerId)

  before(async function () {
    this.timeout(180_000)
    tmp = await tempDir('aas-revoke-')
    const keyFile = join(tmp.path, 'author.json')
    const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
    expect(k.code, k.stderr).to.equal(0)
    author = JSON.parse(k.stdout).publicKey
    // A, the origin, on fixed ports: its restart is the same node at the same address
    const port = await freePort()
    aArgs = ['--slots', '0', '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--api', `127.0.0.1:${await freePort()}`]
    a = await start('a', [], aArgs)
    // B and C bootstrap to A's fixed address, which it keeps across the restart
    const aFixed = a.addresses.find(x => x.includes(`/tcp/${port}/`))!
    expect(aFixed, `A listens on ${port}: ${a.addresses.join(' ')}`).to.be.a('string')
    ;[b, c] = await Promise.all([start('b', [aFixed], ['--slots', '1']), start('c', [aFixed], ['--slots', '1'])])
    await waitFor(async () => {
      const counts = await Promise.all([a, b, c].map(async n => (await getJson(`${n.api}/v1/node`)).peers.length as number))
      if (counts.every(n => n >= 2)) return true
      await Promise.all([a, b, c].map(async n => await getJson(`${n.api}/v1/hello`, { method: 'POST' })))
      return false
    }, 'a full mesh of A, B, C', 30_000, 500)
    const pub = await runCli(['skill', 'publish', SLEEP, '--key', keyFile, '--api', a.api, '--json'], { timeoutMs: 90_000 })
    expect(pub.code, pub.stderr).to.equal(0)
    for (const n of [b, c]) {
      await waitFor(async () => (await getJson(`${n.api}/v1/skills/sleep-echo`)).name === 'sleep-echo', `sleep-echo on ${n.peerId}`, 15_000, 200)
      const r = await runCli(['skill', 'fetch', 'sleep-echo', '--api', n.api, '--json'], { timeoutMs: 60_000 })
      expect(r.code, r.stderr).to.equal(0)
    }
  })

  after(async function () {
    this.timeout(60_000)
    await Promise.all(extra.map(async p => await p.stop().catch(() => {})))
    await Promise.all(nodes.map(async n => await n.stop().catch(() => {})))
    if (tmp != null) await rmTree(tmp.path)
  })

  it('the admin revokes the executor of a running task with the CLI; every other node refuses it within a gossip round', async () => {
    const res = await fetch(`${a.api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ skill: 'sleep-echo', input: { ms: 20_000, tag: 'long' }, attempts: 3 }) })
    expect(res.status).to.equal(201)
    taskId = (await res.json() as { id: string }).id
    const t = await waitFor(async () => { const x = await getJson(`${a.api}/v1/tasks/${taskId}`); return x.state === 'assigned' ? x : undefined }, 'the long task to be assigned', 30_000, 100)
    victim = t.executor === b.peerId ? b : c
    other = victim === b ? c : b
    // it runs there: wait until the sandbox is going (its lease renewed once) before revoking
    await waitFor(async () => (await getJson(`${a.api}/v1/tasks/${taskId}`)).history.some((h: any) => h.state === 'assigned'), 'the assignment', 10_000, 100)

    const team = await testTeam()
    const r = await runCli(['team', 'revoke', victim.peerId, '--key', team.keyFile, '--api', a.api, '--json'], { timeoutMs: 30_000 })
    expect(r.code, r.stderr).to.equal(0)
    expect(JSON.parse(r.stdout)).to.include({ peerId: victim.peerId })

    // within one gossip round: every other node lists it and has dropped the connection
    for (const n of [a, other]) {
      await waitFor(async () => (await revoked(n)).includes(victim.peerId), `the revocation on ${n.peerId}`, 10_000, 100)
      expect(metricSum(await metricsOf(n.api), 'aas_team_revocations_total')).to.equal(1)
    }
    for (const n of [a, other]) {
      await waitFor(async () => !(await peerIds(n)).includes(victim.peerId), `${n.peerId} to drop ${victim.peerId}`, 10_000, 100)
    }
  })

  it('the revoked node\'s task is offered again and succeeds on the other executor', async () => {
    const t = await waitFor(async () => { const x = await getJson(`${a.api}/v1/tasks/${taskId}`); return ['succeeded', 'failed', 'cancelled'].includes(x.state) ? x : undefined }, 'the long task to end', 120_000, 500)
    expect(t.state, JSON.stringify(t.history)).to.equal('succeeded')
    expect(t.executor).to.equal(other.peerId)
    expect(t.output).to.deep.equal({ tag: 'long', slept: 20_000 })
    expect(t.attemptsLog[0]).to.include({ attempt: 1, executor: victim.peerId, status: 'lease-expired' })
    expect(t.attemptsLog.at(-1)).to.include({ executor: other.peerId, status: 'succeeded' })
    // no result of the revoked node was taken
    expect(t.history.filter((h: any) => h.state === 'result' && h.executor === victim.peerId)).to.deep.equal([])
  })

  it('its messages are refused as revoked wherever they come from: a hello and a late result relayed by another peer', async () => {
    // the revoked node cannot connect any more; a peer that does (R, a raw relay) carries its messages
    const victimKey = await loadOrCreateIdentity(victim.dataDir)
    const relay = await Outsider.create()
    const v = await Outsider.create({ key: victimKey, certFile: join(victim.dataDir, 'team.cert') })
    extra.push(relay, v)
    await relay.join(a.addresses[0], a.peerId, [Topics.hello])
    await v.join(relay.peer.getMultiaddrs()[0].toString(), relay.peerId, [Topics.hello])
    const rejected = async (): Promise<number> => metricSum(await metricsOf(a.api), 'aas_gossip_messages_total', { topic: Topics.hello, result: 'reject', reason: 'revoked' })
    const before = await rejected()
    let seq = 1000
    await waitFor(async () => {
      if ((await rejected()) > before) return true
      await v.publish(Topics.hello, 'hello', { seq: seq++, addrs: [], agent: 'revoked' })
      return false
    }, 'a relayed hello of the revoked key to be rejected as revoked', 30_000, 500)
    expect(metricSum(await metricsOf(a.api), 'aas_membership_refusals_total', { channel: 'gossip', reason: 'revoked' })).to.be.at.least(1)
    // its late result for the attempt it lost, relayed: refused for who signed it
    const late = await v.seal('task-result', { taskId, attempt: 1, status: 'succeeded', output: { tag: 'long', slept: 20_000 }, error: null, timings: { fetchMs: 0, sandboxMs: 20_000 } })
    const answer = await relay.send(a.peerId, Protocols.taskResult, late)
    expect(answer).to.deep.include({ ok: false, code: 'ERR_MEMBERSHIP_REVOKED' })
    expect(metricSum(await metricsOf(a.api), 'aas_membership_refusals_total', { channel: 'result', reason: 'revoked' })).to.be.at.least(1)
    // and its own connections did not come back (its keeper keeps redialling A: it is its bootstrap)
    for (const n of [a, other]) expect(await peerIds(n)).to.not.include(victim.peerId)
  })

  it('A restarted on its data dir still refuses the revoked key', async () => {
    await a.kill()
    const fresh = await startCliNode({ dataDir: a.dataDir, args: [...aArgs, '--trust-author', author, '--team', (await testTeam()).descriptorFile, '--cert', join(a.dataDir, 'team.cert')], timeoutMs: 30_000 })
    nodes[nodes.indexOf(a)] = fresh
    a = fresh
    expect(await revoked(a)).to.include(victim.peerId)
    // both executors redial A (their bootstrap) every few seconds: the other gets in, the revoked one does not
    await waitFor(async () => (await peerIds(a)).includes(other.peerId), 'the other executor back on A', 60_000, 250)
    const peers = await peerIds(a)
    expect(peers).to.not.include(victim.peerId)
  })
})

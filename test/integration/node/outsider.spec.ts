import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:net'
import { join } from 'node:path'
import { expect } from 'chai'
import { Protocols, taskIdFor, teamTopic, Topics, type TaskSkillRef } from '../../../protocol/index.js'
import { teamTag } from '../../../federation/index.js'
import { loadCliKey } from '../../../node/cli/peer.js'
import { LocalTeam } from '../../../scripts/lib/team.js'
import { rmTree } from '../../../skills/bundle/index.js'
import { REPO, runCli, startCliNode, getJson, waitFor, tempDir, testTeam, type CliNode } from '../../utils/cli-node.js'
import { Outsider, metricSum, metricsOf } from '../../utils/outsider.js'

/**
 * Issue 9, acceptance: an outsider on the mesh while a team works. A team of three real nodes
 * (A, B, C) runs 50 tasks submitted to A. Meanwhile raw libp2p peers dialled into A try every
 * action the issue lists: O1 with its own key and no certificate, O2 with a certificate of a
 * team it made up, X with an expired certificate of the real team, and M, a real member
 * (roles node, executor) that is not the tasks' origin. They read real task ids off the team
 * topic (its name follows from the public team descriptor) and gossip forged completions and
 * second offers for them, a federation offer asking for no CPU limit, a terabyte and a deadline
 * ten years out, hellos; and over streams inflated bids, submissions and status reads. Then a
 * hello flood from throwaway keys. Every task must end succeeded with its real output; every
 * forged action refused with its reason, counted and audited; the outsiders' gossip scores
 * fall until A neither sends them its team gossip nor hears theirs; A's memory stays bounded.
 */
const SLEEP = join(REPO, 'test', 'fixtures', 'skills', 'sleep')
const TASKS = 50
const INFLATED = { freeSlots: 10_000, cached: true, load: 0 }
const TEN_YEARS = 10 * 365 * 86_400_000

async function submit (api: string, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) })
  const answer = await res.json() as { id?: string }
  if (res.status !== 201 || typeof answer.id !== 'string') throw new Error(`submit to ${api}: HTTP ${res.status} ${JSON.stringify(answer)}`)
  return answer.id
}

/** Waits until every task in `ids` has ended on `api`; returns their records. */
async function ended (api: string, ids: string[], timeoutMs: number): Promise<any[]> {
  return await waitFor(async () => {
    const all = await Promise.all(ids.map(async id => await getJson(`${api}/v1/tasks/${id}`)))
    return all.every(t => ['succeeded', 'failed', 'cancelled', 'resolved'].includes(t.state)) ? all : undefined
  }, `${ids.length} tasks to end`, timeoutMs, 500)
}

describe('an outsider on the mesh while a team works (issue 9)', function () {
  this.timeout(300_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let team: LocalTeam
  let topic: string
  let a: CliNode, b: CliNode, c: CliNode
  const nodes: CliNode[] = []
  let o1: Outsider, o2: Outsider, x: Outsider, m: Outsider
  const peers: Outsider[] = []
  let ref: TaskSkillRef
  let ids: string[] = []
  /** Each attacker's stream answers, by action. */
  const answers = new Map<Outsider, Record<string, any[]>>()
  let trap: Server
  const mBids: string[] = []
  const mResults: any[] = []
  let mTask: { taskId: string, won: Record<string, unknown> } | undefined
  let trapConnections = 0

  const start = async (name: string, bootstrap: string[]): Promise<CliNode> => {
    const n = await startCliNode({ dataDir: join(tmp.path, name), bootstrap, args: ['--slots', '2', '--trust-author', author], timeoutMs: 30_000 })
    nodes.push(n)
    return n
  }
  let author: string
  const outsider = async (o: Promise<Outsider>): Promise<Outsider> => { const p = await o; peers.push(p); return p }

  before(async function () {
    this.timeout(240_000)
    tmp = await tempDir('aas-outsider-')
    team = await testTeam()
    topic = teamTopic(teamTag(team.descriptor.rootKey))
    const keyFile = join(tmp.path, 'author.json')
    const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
    expect(k.code, k.stderr).to.equal(0)
    author = JSON.parse(k.stdout).publicKey

    a = await start('a', [])
    ;[b, c] = await Promise.all([start('b', [a.addresses[0]]), start('c', [a.addresses[0]])])
    await waitFor(async () => {
      const counts = await Promise.all([a, b, c].map(async n => (await getJson(`${n.api}/v1/node`)).peers.length as number))
      if (counts.every(n => n >= 2)) return true
      await Promise.all([a, b, c].map(async n => await getJson(`${n.api}/v1/hello`, { method: 'POST' })))
      return false
    }, 'a full mesh of A, B, C', 30_000, 500)
    const pub = await runCli(['skill', 'publish', SLEEP, '--key', keyFile, '--api', a.api, '--json'], { timeoutMs: 90_000 })
    expect(pub.code, pub.stderr).to.equal(0)
    for (const n of [a, b, c]) await waitFor(async () => (await getJson(`${n.api}/v1/skills/sleep-echo`)).name === 'sleep-echo', `sleep-echo on ${n.peerId}`, 15_000, 200)
    for (const n of [b, c]) {
      const r = await runCli(['skill', 'fetch', 'sleep-echo', '--api', n.api, '--json'], { timeoutMs: 60_000 })
      expect(r.code, r.stderr).to.equal(0)
    }
    const release = await getJson(`${a.api}/v1/skills/sleep-echo`)
    ref = { name: release.name, version: release.version, cid: release.cid, author: release.author }

    // the attackers: no certificate; a made-up team's; the real team's, expired; a real member that is no origin
    const madeUp = await LocalTeam.create(join(tmp.path, 'made-up'), 'made-up')
    const o2Key = (await Outsider.create()).key
    o1 = await outsider(Outsider.create())
    o2 = await outsider(Outsider.create({ key: o2Key, certFile: await madeUp.admitKey(o2Key.publicKey.raw, join(tmp.path, 'o2.cert'), ['node', 'executor', 'publisher', 'admin']) }))
    const xKey = (await Outsider.create()).key
    x = await outsider(Outsider.create({ key: xKey, certFile: await team.admitKey(xKey.publicKey.raw, join(tmp.path, 'x.cert'), ['node', 'executor', 'publisher'], -30_000) }))
    const mKey = (await Outsider.create()).key
    m = await outsider(Outsider.create({ key: mKey, certFile: await team.admitKey(mKey.publicKey.raw, join(tmp.path, 'm.cert'), ['node', 'executor']) }))
    for (const p of peers) {
      await p.join(a.addresses[0], a.peerId, [topic, Topics.tasks, Topics.hello])
      answers.set(p, {})
    }
    // M poses as the origin of its own offers: it keeps the bids, renewals and results it gets
    await m.serve(Protocols.taskClaim, (req) => {
      mBids.push(req.body.taskId)
      return mTask != null && req.body.taskId === mTask.taskId ? { won: true, ...mTask.won } : { won: false, reason: 'not offered' }
    })
    await m.serve(Protocols.taskLease, () => ({ ok: true, leaseUntil: Date.now() + 60_000 }))
    await m.serve(Protocols.taskResult, (req) => { mResults.push(req.body); return { accepted: true } })
    // where the flood's hellos say they listen: nobody may dial it
    trap = createServer((s) => { trapConnections++; s.destroy() })
    await new Promise<void>((resolve) => { trap.listen(0, '127.0.0.1', resolve) })
  })

  after(async function () {
    this.timeout(120_000)
    await Promise.all(peers.map(async p => await p.stop().catch(() => {})))
    await Promise.all(nodes.map(async n => await n.stop().catch(() => {})))
    trap?.close()
    if (tmp != null) await rmTree(tmp.path)
  })

  /** What `o` tries: gossip forgeries for a real task it heard of, then stream requests. */
  async function attack (o: Outsider, opts: { streams: boolean }): Promise<void> {
    const real = await waitFor(() => [...o.offers.values()].find(offer => ids.includes(offer.taskId)), `a real task id heard by ${o.peerId}`, 30_000, 50)
    // gossip: a forged end and a second offer of a real task, on the team topic
    await o.publish(topic, 'task-done', { taskId: real.taskId, idSeed: real.idSeed })
    await o.publish(topic, 'task-offer', { ...real, attempt: real.attempt + 1 })
    // an offer of its own asking for no CPU limit, a terabyte of memory and ten years
    const seed = randomBytes(32).toString('hex')
    await o.publish(Topics.tasks, 'task-offer', {
      taskId: taskIdFor(o.key.publicKey.raw, seed), idSeed: seed, scope: 'federation', attempt: 1, skill: ref, inputBytes: 20,
      resources: { memoryMB: 1_048_576, cpus: 0, pids: 1_048_576, timeoutS: 86_400 }, deadline: Date.now() + TEN_YEARS, exclude: [], tier: 0
    })
    await o.publish(Topics.hello, 'hello', { seq: 1, addrs: [], agent: 'outsider' })
    if (!opts.streams) return
    const got = answers.get(o)!
    // winning bids with inflated claims, for every task it heard of
    const heard = [...o.offers.values()].filter(offer => ids.includes(offer.taskId)).slice(0, 10)
    got.claim = await Promise.all(heard.map(async offer => await o.call(a.peerId, Protocols.taskClaim, 'task-claim', { taskId: offer.taskId, attempt: offer.attempt, ...INFLATED })))
    got.submit = [await o.call(a.peerId, Protocols.taskSubmit, 'task-submit', { skill: 'sleep-echo', input: { ms: 1, tag: 'outsider' }, timeoutS: 60, attempts: 1 })]
    got.status = await Promise.all(heard.slice(0, 3).map(async offer => await o.call(a.peerId, Protocols.taskStatus, 'task-status', { taskId: offer.taskId })))
  }

  it(`${TASKS} team tasks all succeed with their real output while outsiders forge, bid, submit, read and offer`, async function () {
    this.timeout(240_000)
    const inputs = Array.from({ length: TASKS }, (_, i) => ({ ms: 1500, tag: `task-${i}` }))
    const submitting = (async () => {
      for (let i = 0; i < TASKS; i += 10) ids.push(...await Promise.all(inputs.slice(i, i + 10).map(async input => await submit(a.api, { skill: 'sleep-echo', input }))))
    })()
    await Promise.all([submitting, attack(o1, { streams: true }), attack(o2, { streams: true }), attack(x, { streams: true }), attack(m, { streams: false })])
    const tasks = await ended(a.api, ids, 200_000)

    const executors = new Set([a.peerId, b.peerId, c.peerId])
    const attackers = new Set(peers.map(p => p.peerId))
    for (const [i, t] of tasks.entries()) {
      expect(t.state, `${t.id}: ${JSON.stringify(t.history)}`).to.equal('succeeded')
      expect(t.output, `output of task ${i}`).to.deep.equal({ tag: `task-${i}`, slept: 1500 })
      expect(executors.has(t.executor), `executor of ${t.id}`).to.equal(true)
      // no attacker's bid ever reached an auction
      const bidders: string[] = t.history.filter((h: any) => h.state === 'bid').map((h: any) => h.executor as string)
      expect(bidders.filter(p => attackers.has(p)), `bids on ${t.id}`).to.deep.equal([])
    }
    // the outsider learned real ids from the team topic, and nothing more: team offers name no skill
    const heardOffers = [...o1.offers.values()].filter(offer => ids.includes(offer.taskId))
    expect(heardOffers.length).to.be.at.least(1)
    for (const offer of heardOffers) expect(offer).to.not.have.any.keys('skill', 'resources', 'inputBytes')

    // every stream request refused, with the membership reason as its code
    const expectRefused = (o: Outsider, code: string): void => {
      const got = answers.get(o)!
      expect(got.claim.length, 'bids sent').to.be.at.least(1)
      for (const [action, list] of Object.entries(got)) {
        for (const answer of list) expect(answer, `${action} by ${o.peerId}`).to.deep.include({ ok: false, code })
      }
      for (const answer of got.claim) expect(answer.won).to.equal(false)
      for (const answer of got.status) expect(answer).to.not.have.any.keys('task')
    }
    expectRefused(o1, 'ERR_MEMBERSHIP_NO_CERTIFICATE')
    expectRefused(o2, 'ERR_MEMBERSHIP_UNKNOWN_TEAM')
    expectRefused(x, 'ERR_MEMBERSHIP_EXPIRED_CERTIFICATE')
  })

  it('counts every refusal under its reason: gossip rejects per topic, stream refusals per channel', async () => {
    const text = await metricsOf(a.api)
    const gossip = (topicLabel: string, reason: string): number => metricSum(text, 'aas_gossip_messages_total', { topic: topicLabel, result: 'reject', reason })
    const refused = (channel: string, reason: string): number => metricSum(text, 'aas_membership_refusals_total', { channel, reason })
    for (const reason of ['no-certificate', 'unknown-team', 'expired-certificate']) {
      expect(gossip('/aas/1/team', reason), `team topic, ${reason}`).to.be.at.least(2)
      expect(gossip(Topics.tasks, reason), `tasks topic, ${reason}`).to.be.at.least(1)
      expect(gossip(Topics.hello, reason), `hello topic, ${reason}`).to.be.at.least(1)
      expect(refused('gossip', reason), `gossip refusals, ${reason}`).to.be.at.least(4)
      expect(refused('submit', reason), `submit, ${reason}`).to.equal(1)
      expect(refused('claim', reason), `claim, ${reason}`).to.be.at.least(1)
      expect(refused('status', reason), `status, ${reason}`).to.be.at.least(1)
    }
    // the member: its forged end and offer speak for a task that is not its own
    expect(gossip('/aas/1/team', 'not-origin'), 'not-origin on the team topic').to.be.at.least(2)
    expect(refused('gossip', 'not-origin')).to.be.at.least(2)
  })

  it('audits the refusals, naming each sender', async () => {
    const entries = await waitFor(async () => {
      const list = (await getJson<{ entries: any[] }>(`${a.api}/v1/audit?limit=1000`)).entries.filter(e => e.action === 'message.rejected')
      return [o1, o2, x, m].every(p => list.some(e => e.subject === p.peerId)) ? list : undefined
    }, 'a message.rejected entry for every attacker', 15_000, 250)
    const first = (p: Outsider): any => entries.find(e => e.subject === p.peerId)
    expect(first(o1).details.reason).to.equal('no-certificate')
    expect(first(o2).details.reason).to.equal('unknown-team')
    expect(first(x).details.reason).to.equal('expired-certificate')
    expect(first(m).details.reason).to.equal('not-origin')
  })

  it('a member is refused what its roles do not cover: an executor that is no publisher submits with the real CLI', async () => {
    const cliKeyFile = join(tmp.path, 'executor-cli.key')
    const cliKey = await loadCliKey(cliKeyFile)
    const cert = await team.admitKey(cliKey.publicKey.raw, join(tmp.path, 'executor-cli.cert'), ['node', 'executor'])
    const before = metricSum(await metricsOf(a.api), 'aas_membership_refusals_total', { channel: 'submit', reason: 'role' })
    const r = await runCli(['task', 'submit', '--skill', 'sleep-echo', '--input', JSON.stringify({ ms: 1 }), '--node', a.addresses[0], '--cert', cert], { env: { AAS_CLI_KEY: cliKeyFile }, timeoutMs: 60_000 })
    expect(r.code, r.stderr).to.be.a('number').and.not.equal(0)
    expect(r.stdout).to.equal('')
    expect(r.stderr.trim().split('\n')).to.have.length(1)
    expect(r.stderr).to.match(/^aas: .*lacks the "publisher" role|^aas: .*needs the "publisher" role/)
    expect(metricSum(await metricsOf(a.api), 'aas_membership_refusals_total', { channel: 'submit', reason: 'role' })).to.equal(before + 1)
    // the same peer as a publisher is served
    const pubCert = await team.admitKey(cliKey.publicKey.raw, join(tmp.path, 'publisher-cli.cert'), ['publisher'])
    const ok = await runCli(['task', 'submit', '--skill', 'sleep-echo', '--input', JSON.stringify({ ms: 1, tag: 'cli' }), '--node', a.addresses[0], '--cert', pubCert, '--json'], { env: { AAS_CLI_KEY: cliKeyFile }, timeoutMs: 60_000 })
    expect(ok.code, ok.stderr).to.equal(0)
    const [t] = await ended(a.api, [JSON.parse(ok.stdout).id], 60_000)
    expect(t.output).to.deep.equal({ tag: 'cli', slept: 1 })
  })

  it('the attackers\' gossip scores fall; past the thresholds A no longer sends them team gossip nor takes theirs', async () => {
    const score = async (p: Outsider): Promise<number | undefined> => (await getJson(`${a.api}/v1/peers`)).peers.find((e: any) => e.peerId === p.peerId)?.gossipScore
    for (const p of [o1, o2, x, m]) expect(await score(p), `score of ${p.peerId}`).to.be.lessThan(0)
    // O1 keeps forging until it is greylisted (gossipsub's default graylistThreshold is -80)
    const real = [...o1.offers.values()][0]
    for (let i = 0; i < 12; i++) await o1.publish(topic, 'task-done', { taskId: real.taskId, idSeed: real.idSeed })
    await waitFor(async () => ((await score(o1)) ?? 0) < -80, 'O1 greylisted', 15_000, 200)
    const rejectsBefore = metricSum(await metricsOf(a.api), 'aas_gossip_messages_total', { topic: '/aas/1/team', reason: 'no-certificate' })
    for (let i = 0; i < 5; i++) await o1.publish(topic, 'task-done', { taskId: real.taskId, idSeed: real.idSeed })
    const id = await submit(a.api, { skill: 'sleep-echo', input: { ms: 1500, tag: 'after' } })
    const [t] = await ended(a.api, [id], 60_000)
    expect(t.state).to.equal('succeeded')
    // its offer went to the team (B or C may have run it), not to O1; O1's last forgeries were not even looked at
    expect(o1.offers.has(id), 'O1 heard the new offer').to.equal(false)
    expect(metricSum(await metricsOf(a.api), 'aas_gossip_messages_total', { topic: '/aas/1/team', reason: 'no-certificate' })).to.equal(rejectsBefore)
  })

  it('a hello flood from throwaway keys is refused and counted, names no address A dials, and leaves A\'s memory bounded', async function () {
    this.timeout(180_000)
    const rss = async (): Promise<number> => metricSum(await metricsOf(a.api), 'process_resident_memory_bytes')
    const rejects = async (): Promise<number> => metricSum(await metricsOf(a.api), 'aas_gossip_messages_total', { topic: Topics.hello, result: 'reject', reason: 'no-certificate' })
    const rssBefore = await rss()
    const rejectsBefore = await rejects()
    const KEYS = 20
    const HELLOS = 10
    const port = (trap.address() as { port: number }).port
    const flooders: string[] = []
    for (let k = 0; k < KEYS; k++) {
      const f = await Outsider.create()
      try {
        flooders.push(f.peerId)
        await f.join(a.addresses[0], a.peerId, [Topics.hello])
        for (let i = 0; i < HELLOS; i++) await f.publish(Topics.hello, 'hello', { seq: i, addrs: [`/ip4/127.0.0.1/tcp/${port}`], agent: 'flood' })
        // each key's first hello is refused before the next key comes
        await waitFor(async () => (await rejects()) >= rejectsBefore + k + 1, `the hellos of key ${k + 1} refused`, 15_000, 100)
      } finally {
        await f.stop()
      }
    }
    const rssAfter = await rss()
    console.log(`      RSS of A: ${(rssBefore / 2 ** 20).toFixed(0)} MiB before ${KEYS}×${HELLOS} hellos, ${(rssAfter / 2 ** 20).toFixed(0)} MiB after; refused: ${(await rejects()) - rejectsBefore}`)
    expect(rssAfter - rssBefore, 'RSS growth').to.be.lessThan(128 * 2 ** 20)
    // none of them is a known peer, none of their addresses was dialled
    const known = (await getJson(`${a.api}/v1/mesh`)).peers.map((p: any) => p.peerId)
    expect(known.filter((p: string) => flooders.includes(p))).to.deep.equal([])
    expect(trapConnections).to.equal(0)
    // audited flood-safely: one entry per key so far (the rest are summed when its window ends)
    const entries = (await getJson<{ entries: any[] }>(`${a.api}/v1/audit?limit=1000`)).entries.filter(e => e.action === 'message.rejected' && flooders.includes(e.subject))
    for (const f of flooders) expect(entries.filter(e => e.subject === f).length, `entries naming ${f}`).to.equal(1)
    expect((await getJson(`${a.api}/healthz`)).status).to.equal('ok')
  })

  it('a member\'s offer with a deadline ten years out gets no bid; one asking for no CPU limit and a terabyte runs capped', async () => {
    // M offered a federation task with a ten-year deadline during the attack (accepted: M is a node of the team)
    const accepted = metricSum(await metricsOf(a.api), 'aas_gossip_messages_total', { topic: Topics.tasks, result: 'accept' })
    expect(accepted).to.be.at.least(1)
    const seed = randomBytes(32).toString('hex')
    const taskId = taskIdFor(m.key.publicKey.raw, seed)
    const deadline = Date.now() + 120_000
    const wish = { memoryMB: 1_048_576, cpus: 0, pids: 1_048_576, timeoutS: 86_400 }
    mTask = { taskId, won: { input: { ms: 10, tag: 'member' }, leaseUntil: Date.now() + 60_000, deadline, skill: ref, resources: wish } }
    await m.publish(Topics.tasks, 'task-offer', { taskId, idSeed: seed, scope: 'federation', attempt: 1, skill: ref, inputBytes: 25, resources: wish, deadline, exclude: [], tier: 0 })
    const result = await waitFor(() => mResults.find(r => r.taskId === taskId), 'the result of M\'s task', 60_000, 100)
    // the executor ran it with its own limits (podman would read cpus 0 as none): it succeeded
    expect(result).to.deep.include({ status: 'succeeded', output: { tag: 'member', slept: 10 }, error: null })
    // and none of the bids M received was for its ten-year offer
    expect(mBids.length).to.be.at.least(1)
    expect(mBids.every(id => id === taskId), `bids: ${mBids.join(', ')}`).to.equal(true)
  })

  it('every refusal is in A\'s audit trail once A stops (aas audit export): first ones and the summed rest, per sender', async function () {
    this.timeout(120_000)
    const text = await metricsOf(a.api)
    const refusedFor = (reason: string): number => metricSum(text, 'aas_membership_refusals_total', { reason })
    expect(await a.stop()).to.equal(0)
    const file = join(tmp.path, 'a-audit.jsonl')
    const r = await runCli(['audit', 'export', '--data', a.dataDir, '--out', file, '--json'], { timeoutMs: 60_000 })
    expect(r.code, r.stderr).to.equal(0)
    const entries = (await readFile(file, 'utf8')).trim().split('\n').map(l => JSON.parse(l)).filter(e => e.action === 'message.rejected')
    /** Refusals audited for `p`: reason → count (a first entry counts one, a summary its counts). */
    const audited = (p: Outsider): Record<string, number> => {
      const out: Record<string, number> = {}
      for (const e of entries.filter(e => e.subject === p.peerId)) {
        const counts: Record<string, number> = e.details.summary === true ? e.details.counts : { [e.details.reason]: 1 }
        for (const [reason, n] of Object.entries(counts)) out[reason] = (out[reason] ?? 0) + n
      }
      return out
    }
    // O2 and X alone were refused for their reasons: every one of those refusals is audited under their names
    expect(audited(o2)).to.deep.equal({ 'unknown-team': refusedFor('unknown-team') })
    expect(audited(x)).to.deep.equal({ 'expired-certificate': refusedFor('expired-certificate') })
    expect(audited(m)).to.deep.equal({ 'not-origin': refusedFor('not-origin') })
    expect(audited(o1)['no-certificate'], 'O1: gossip, bids, submission, status reads').to.be.at.least(4 + 1 + 1 + 1)
  })
})

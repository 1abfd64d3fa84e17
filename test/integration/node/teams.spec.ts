import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { parsePublicKeyText, teamTopic, Topics } from '../../../protocol/index.js'
import { teamTag } from '../../../federation/index.js'
import { LocalTeam } from '../../../scripts/lib/team.js'
import { createRawPeer, type RawPeer } from '../../utils/raw-peer.js'
import { getJson, runCli, startCliNode, tempDir, waitFor, type CliNode } from '../../utils/cli-node.js'

/**
 * Two teams of three nodes on one mesh, with a partner grant one way (issue 9's first
 * acceptance point): alpha lets beta `execute` its federation tasks; beta lets alpha
 * `publish` federation tasks to it and trusts alpha's authors. Team tasks stay inside their
 * team and leave nothing of their skill, input or output in any gossip an outsider receives;
 * federation tasks run on the partner only as granted; a partner's author never shadows a team
 * skill of the same name, whatever its version.
 */
function skillFiles (name: string, version: string, by: string): Record<string, string> {
  const manifest = {
    name,
    version,
    description: `${name}: counts the words of "text" and says which team's release ran`,
    runtime: 'sh',
    entrypoint: 'main.sh',
    category: 'text',
    tags: ['test'],
    resources: { memoryMB: 64, cpus: 1, pids: 16, timeoutS: 20 },
    inputSchema: { type: 'object', required: ['text'], additionalProperties: false, properties: { text: { type: 'string', maxLength: 1000 } } },
    outputSchema: { type: 'object', required: ['words', 'by'], additionalProperties: false, properties: { words: { type: 'integer', minimum: 0 }, by: { type: 'string' } } },
    tests: [{ input: { text: 'one two three' }, expect: { words: 3, by } }]
  }
  const main = [
    'set -eu',
    'input=$(cat)',
    "rest=${input#*'\"text\"'}",
    "rest=${rest#*'\"'}",
    "text=${rest%%'\"'*}",
    'words=$(printf \'%s\' "$text" | wc -w)',
    `printf '{"words": %d, "by": "${by}"}\\n' "$((words))"`
  ].join('\n') + '\n'
  return { 'skill.json': JSON.stringify(manifest, null, 2), 'main.sh': main }
}

describe('two teams on one mesh, with a partner grant one way', function () {
  this.timeout(900_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let alpha: LocalTeam
  let beta: LocalTeam
  let a1: CliNode, a2: CliNode, a3: CliNode, b1: CliNode, b2: CliNode, b3: CliNode
  let outsider: RawPeer
  /** Every message the outsider received on the topics it listens to, as raw bytes. */
  const heard: Array<{ topic: string, data: Uint8Array }> = []
  const all = (): CliNode[] => [a1, a2, a3, b1, b2, b3].filter(n => n != null)
  const name = (peer: string | null): string => ['a1', 'a2', 'a3', 'b1', 'b2', 'b3'][all().findIndex(n => n.peerId === peer)] ?? String(peer)

  async function publish (team: LocalTeam, node: CliNode, skill: string, version: string, by: string): Promise<void> {
    const dir = join(tmp.path, `${by}-${skill}-${version}`)
    await mkdir(dir, { recursive: true })
    for (const [f, text] of Object.entries(skillFiles(skill, version, by))) await writeFile(join(dir, f), text)
    const keyFile = join(tmp.path, `${by}-author.key`)
    const certFile = join(tmp.path, `${by}-author.cert`)
    const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
    if (k.code === 0) await team.admitKey(parsePublicKeyText(JSON.parse(k.stdout).publicKey), certFile, ['author'])
    const pub = await runCli(['skill', 'publish', dir, '--key', keyFile, '--cert', certFile, '--api', node.api, '--json'], { timeoutMs: 120_000 })
    expect(pub.code, pub.stderr).to.equal(0)
  }

  async function claimsWon (node: CliNode): Promise<number> {
    const m = /^aas_task_claims_total\{result="won"\} (\d+)/m.exec(await (await fetch(`${node.api}/metrics`)).text())
    return m == null ? 0 : Number(m[1])
  }

  async function submit (node: CliNode, body: Record<string, unknown>): Promise<string> {
    const res = await fetch(`${node.api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ attempts: 3, timeoutS: 120, ...body }) })
    const json = await res.json() as { id: string, message?: string }
    expect(res.status, json.message).to.equal(201)
    return json.id
  }

  async function ended (node: CliNode, ids: string[]): Promise<any[]> {
    return await waitFor(async () => {
      const ts = await Promise.all(ids.map(async id => await getJson(`${node.api}/v1/tasks/${id}`)))
      return ts.every(t => ['succeeded', 'failed', 'cancelled', 'resolved'].includes(t.state)) ? ts : undefined
    }, `${ids.length} task(s) to end`, 240_000, 300)
  }

  before(async function () {
    tmp = await tempDir('aas-teams-')
    alpha = await LocalTeam.create(join(tmp.path, 'alpha'), 'alpha')
    beta = await LocalTeam.create(join(tmp.path, 'beta'), 'beta')
    // each team lists the other with what it allows, through the real CLI
    const aConf = join(tmp.path, 'alpha.json')
    const bConf = join(tmp.path, 'beta.json')
    for (const [other, grant, conf] of [[beta, 'execute', aConf], [alpha, 'publish,trust-authors', bConf]] as const) {
      const r = await runCli(['team', 'partner', 'add', other.descriptorFile, '--grant', grant, '--config', conf, '--json'])
      expect(r.code, r.stderr).to.equal(0)
    }
    // a1 only originates, so federation tasks have to find executors; the others run one task at a time
    a1 = await startCliNode({ team: alpha, args: ['--config', aConf, '--slots', '0'], timeoutMs: 60_000 })
    const boot = [a1.addresses[0]]
    ;[a2, a3, b1, b2, b3] = await Promise.all([
      startCliNode({ team: alpha, bootstrap: boot, args: ['--config', aConf, '--slots', '1'], timeoutMs: 60_000 }),
      startCliNode({ team: alpha, bootstrap: boot, args: ['--config', aConf, '--slots', '1'], timeoutMs: 60_000 }),
      startCliNode({ team: beta, bootstrap: boot, args: ['--config', bConf, '--slots', '1'], timeoutMs: 60_000 }),
      startCliNode({ team: beta, bootstrap: boot, args: ['--config', bConf, '--slots', '1'], timeoutMs: 60_000 }),
      startCliNode({ team: beta, bootstrap: boot, args: ['--config', bConf, '--slots', '1'], timeoutMs: 60_000 })
    ])
    // every node hears the others' hellos (partners accept each other's): it knows all five
    await waitFor(async () => {
      const known = await Promise.all(all().map(async n => (await getJson(`${n.api}/v1/mesh`)).peers.length as number))
      if (known.every(k => k >= 5)) return true
      await Promise.all(all().map(async n => await getJson(`${n.api}/v1/hello`, { method: 'POST' }).catch(() => {})))
      return false
    }, 'every node to know the five others', 60_000, 500)

    // an outsider: its own key, no certificate, subscribed to alpha's team topic and the federation topic
    outsider = await createRawPeer(await generateKeyPair('Ed25519'))
    const topics = [teamTopic(teamTag(alpha.descriptor.rootKey)), Topics.tasks, Topics.skills]
    for (const t of topics) outsider.services.pubsub.subscribe(t)
    outsider.services.pubsub.addEventListener('message', (evt: any) => { heard.push({ topic: evt.detail.topic, data: evt.detail.data }) })
    for (const n of [a1, a2, a3]) await outsider.dial(multiaddr(n.addresses[0]))

    // alpha's author publishes team-echo 9.0.0; beta's publishes its own team-echo 1.0.0
    await publish(alpha, a1, 'team-echo', '9.0.0', 'alpha')
    await publish(beta, b1, 'team-echo', '1.0.0', 'beta')
    for (const n of [a2, a3]) await waitFor(async () => (await getJson(`${n.api}/v1/skills/team-echo`).catch(() => null))?.version === '9.0.0', `alpha's release at ${name(n.peerId)}`, 30_000, 200)
    // beta's nodes trust alpha's author (granted trust-authors): they index both
    for (const n of [b1, b2, b3]) {
      await waitFor(async () => (await getJson(`${n.api}/v1/skills/alpha%2Fteam-echo`).catch(() => null))?.version === '9.0.0', `alpha's release at ${name(n.peerId)}`, 30_000, 200)
      await waitFor(async () => (await getJson(`${n.api}/v1/skills/team-echo`).catch(() => null))?.version === '1.0.0', `beta's release at ${name(n.peerId)}`, 30_000, 200)
    }
  })

  after(async () => {
    await outsider?.stop()
    await Promise.allSettled(all().map(async n => await n.stop()))
    await tmp?.remove()
  })

  it('a partner author never shadows a team skill: a bare name resolves to the own team\'s release, whatever the versions', async () => {
    // at beta, alpha's 9.0.0 is trusted but beta's own 1.0.0 is what "team-echo" means
    expect((await getJson(`${b1.api}/v1/skills/team-echo`)).version).to.equal('1.0.0')
    expect((await getJson(`${b1.api}/v1/skills/alpha%2Fteam-echo`)).version).to.equal('9.0.0')
    // at alpha, beta's author is not trusted at all (no trust-authors grant)
    expect((await getJson(`${a1.api}/v1/skills/team-echo`)).version).to.equal('9.0.0')
    const r = await fetch(`${a1.api}/v1/skills/beta%2Fteam-echo`)
    expect(r.status).to.equal(404)
    const [t] = await ended(b1, [await submit(b1, { skill: 'team-echo', input: { text: 'a b' } })])
    expect([t.state, t.output]).to.deep.equal(['succeeded', { words: 2, by: 'beta' }])
  })

  it('team tasks run only inside their team; their skill, input and output appear in no gossip an outsider receives', async () => {
    heard.length = 0
    const wonBefore = await Promise.all([b1, b2, b3].map(async n => await claimsWon(n)))
    const ids: string[] = []
    for (let i = 0; i < 8; i++) ids.push(await submit(a1, { skill: 'team-echo', input: { text: `SECRETWORD alpha private ${i}` } }))
    const ts = await ended(a1, ids)
    for (const t of ts) {
      expect(t.state, JSON.stringify(t.history)).to.equal('succeeded')
      expect(t.output).to.deep.equal({ words: 4, by: 'alpha' })
      expect(['a2', 'a3']).to.include(name(t.executor))
    }
    // beta's nodes never won (nor heard of) any of them
    expect(await Promise.all([b1, b2, b3].map(async n => await claimsWon(n)))).to.deep.equal(wonBefore)
    // the outsider heard the team topic (offers, assignments, ends) but nothing of the tasks in it
    const team = heard.filter(h => h.topic.includes('/team/'))
    expect(team.length, 'messages on the team topic').to.be.greaterThan(0)
    for (const h of heard) {
      const text = Buffer.from(h.data).toString('latin1')
      expect(text, `a message on ${h.topic}`).to.not.include('SECRETWORD')
      expect(text).to.not.include('"by"')
      if (h.topic.includes('/team/')) expect(text, `a message on ${h.topic}`).to.not.include('team-echo')
    }
  })

  it('federation tasks run on the partner as granted, and one way only', async () => {
    const fromAlpha: string[] = []
    for (let i = 0; i < 12; i++) fromAlpha.push(await submit(a1, { skill: 'team-echo', scope: 'federation', input: { text: `fed ${i}` } }))
    const ta = await ended(a1, fromAlpha)
    expect(ta.map(t => t.state)).to.deep.equal(ta.map(() => 'succeeded'))
    const ranOn = new Set(ta.map(t => name(t.executor)))
    expect([...ranOn].some(n => n.startsWith('b')), `alpha's federation tasks ran on ${[...ranOn].join(', ')}`).to.equal(true)
    // alpha's release ran wherever it ran: the same CID on beta's executors
    for (const t of ta) expect(t.output.by).to.equal('alpha')

    // beta's federation tasks never run on alpha: alpha did not grant beta publish
    const fromBeta: string[] = []
    for (let i = 0; i < 6; i++) fromBeta.push(await submit(b1, { skill: 'team-echo', scope: 'federation', input: { text: `back ${i}` } }))
    const tb = await ended(b1, fromBeta)
    for (const t of tb) {
      expect(t.state).to.equal('succeeded')
      expect(['b1', 'b2', 'b3']).to.include(name(t.executor))
    }
    // alpha's executors heard beta's offers and let them be, counted as not granted
    const m = await (await fetch(`${a2.api}/metrics`)).text()
    expect(m).to.match(/aas_gossip_messages_total\{topic="\/aas\/1\/tasks",result="ignore",reason="not-granted"\} [1-9]/)
  })
})

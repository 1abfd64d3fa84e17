import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { rmTree } from '../../../skills/bundle/index.js'
import { getJson, runCli, startCliNode, tempDir, waitFor, type CliNode } from '../../utils/cli-node.js'

/**
 * The SelfImprover's quarantine on a real node, through the real CLI and real sandboxes: a
 * parser's 1.0.0 works; its 1.1.0 passes its own test and publish, then fails every real input.
 * After ten such runs the node quarantines 1.1.0: `aas skill show` tells the author why, a task
 * asking for the name runs 1.0.0 (its history says why, with the evidence), a reviewer may not
 * lift it, an admin may (`aas memory lift`, audited), and the name then runs 1.1.0 again.
 */
const PASSWORD = 'correct horse battery staple'
const PY_GOOD = 'import json, sys\nd = json.load(sys.stdin)\nprint(json.dumps({"fields": len(d["text"].split(","))}))\n'
const PY_BAD = 'import json, sys\nd = json.load(sys.stdin)\nif len(d["text"].split(",")) > 2:\n    print("ValueError: bad header at line 3", file=sys.stderr)\n    sys.exit(1)\nprint(json.dumps({"fields": len(d["text"].split(","))}))\n'

async function skillDir (root: string, version: string, py: string): Promise<string> {
  const dir = join(root, `csv-fields-${version}`)
  await mkdir(dir)
  await writeFile(join(dir, 'main.py'), py)
  await writeFile(join(dir, 'skill.json'), JSON.stringify({
    name: 'csv-fields',
    version,
    description: 'counts the fields of a CSV line',
    runtime: 'python3',
    entrypoint: 'main.py',
    resources: { memoryMB: 64, pids: 16, timeoutS: 30 },
    inputSchema: { type: 'object', required: ['text'], additionalProperties: false, properties: { text: { type: 'string' } } },
    outputSchema: { type: 'object', required: ['fields'], additionalProperties: false, properties: { fields: { type: 'integer' } } },
    tests: [{ input: { text: 'a,b' }, expect: { fields: 2 } }]
  }))
  return dir
}

describe('quarantine of a regressed release on a real node', function () {
  this.timeout(600_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let node: CliNode
  let keyFile: string

  const submit = async (skill: string, i: number): Promise<string> => {
    const res = await fetch(`${node.api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ skill, input: { text: `a${i},b,c,d` }, attempts: 1, onFailure: 'fail' }) })
    const body = await res.json() as { id: string }
    expect(res.status, JSON.stringify(body)).to.equal(201)
    return body.id
  }
  const ended = async (id: string): Promise<any> => await waitFor(async () => {
    const t = await getJson(`${node.api}/v1/tasks/${id}`)
    return ['succeeded', 'failed', 'cancelled', 'resolved'].includes(t.state) ? t : undefined
  }, `task ${id} to end`, 120_000, 200)
  const person = async (name: string, role: string): Promise<Record<string, string>> => {
    const added = await runCli(['user', 'add', name, '--role', role, '--password-stdin', '--data', node.dataDir, '--json'], { input: PASSWORD + '\n', timeoutMs: 60_000 })
    expect(added.code, added.stderr).to.equal(0)
    const { URI } = await import('otpauth')
    const code = (URI.parse(JSON.parse(added.stdout).otpauthUri) as import('otpauth').TOTP).generate()
    const home = join(tmp.path, `home-${name}`)
    await mkdir(home)
    const login = await runCli(['login', '--user', name, '--password-stdin', '--api', node.api], { input: `${PASSWORD}\n${code}\n`, env: { HOME: home }, timeoutMs: 60_000 })
    expect(login.code, login.stderr).to.equal(0)
    return { HOME: home }
  }

  before(async function () {
    tmp = await tempDir('aas-quarantine-it-')
    keyFile = join(tmp.path, 'author.json')
    const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
    expect(k.code, k.stderr).to.equal(0)
    node = await startCliNode({ dataDir: join(tmp.path, 'node'), args: ['--slots', '2', '--trust-author', JSON.parse(k.stdout).publicKey] })
  })

  after(async function () {
    await node?.stop().catch(() => {})
    if (tmp != null) await rmTree(tmp.path)
  })

  it('ten failed runs of 1.1.0 against good ones of 1.0.0: quarantined, shown, worked around, lifted only by an admin', async () => {
    const good = await runCli(['skill', 'publish', await skillDir(tmp.path, '1.0.0', PY_GOOD), '--key', keyFile, '--api', node.api, '--json'], { timeoutMs: 120_000 })
    expect(good.code, good.stderr).to.equal(0)
    for (const id of await Promise.all([0, 1, 2, 3, 4, 5].map(async i => await submit('csv-fields', i)))) expect((await ended(id)).state).to.equal('succeeded')
    const bad = await runCli(['skill', 'publish', await skillDir(tmp.path, '1.1.0', PY_BAD), '--key', keyFile, '--api', node.api, '--json'], { timeoutMs: 120_000 })
    expect(bad.code, bad.stderr).to.equal(0)
    const badCid = JSON.parse(bad.stdout).cid as string
    for (let i = 0; i < 10; i++) {
      const t = await ended(await submit('csv-fields', 10 + i))
      expect([t.state, t.skill.version]).to.deep.equal(['failed', '1.1.0'])
    }
    const [q] = await waitFor(async () => {
      const list = (await getJson(`${node.api}/v1/memory/quarantine`)).quarantine as any[]
      return list.length > 0 ? list : undefined
    }, 'the quarantine of 1.1.0', 30_000)
    expect([q.cid, q.version, q.lifted]).to.deep.equal([badCid, '1.1.0', null])
    expect(q.evidence.release).to.deep.include({ failures: 10, runs: 10 })
    expect(q.evidence.previous).to.deep.include({ version: '1.0.0', failures: 0, runs: 6 })

    // the author sees why
    const shown = await runCli(['skill', 'show', 'csv-fields@1.1.0', '--api', node.api])
    expect(shown.code, shown.stderr).to.equal(0)
    expect(shown.stdout).to.include('QUARANTINED on this node since').and.include(q.reason)
    const json = JSON.parse((await runCli(['skill', 'show', 'csv-fields', '--api', node.api, '--json'])).stdout)
    expect([json.version, json.quarantine?.reason, json.quarantined]).to.deep.equal(['1.1.0', q.reason, ['1.1.0']])

    // a task asking for the name runs the good release; its history says why
    const t = await ended(await submit('csv-fields', 99))
    expect([t.state, t.skill.version, t.output]).to.deep.equal(['succeeded', '1.0.0', { fields: 4 }])
    const learned = t.history[0].learned
    expect(learned.rule).to.equal('quarantine')
    expect(learned.evidence).to.deep.include({ asked: 'csv-fields' })
    expect(learned.evidence.quarantined).to.deep.include({ version: '1.1.0', cid: badCid })
    expect(learned.evidence.chosen.version).to.equal('1.0.0')

    // a reviewer may not lift it; an admin may, and it is audited
    const ada = await person('ada', 'reviewer')
    const refused = await runCli(['memory', 'lift', 'csv-fields@1.1.0', '--api', node.api], { env: ada })
    expect(refused.code).to.not.equal(0)
    expect(refused.stderr).to.match(/admin role/)
    const root = await person('root', 'admin')
    const lifted = await runCli(['memory', 'lift', 'csv-fields@1.1.0', '--api', node.api, '--json'], { env: root })
    expect(lifted.code, lifted.stderr).to.equal(0)
    expect(JSON.parse(lifted.stdout).lifted.by).to.equal('user:root')
    const again = await runCli(['memory', 'lift', 'csv-fields@1.1.0', '--api', node.api], { env: root })
    expect([again.code, again.stderr]).to.satisfy(([code, err]: [number, string]) => code !== 0 && /not quarantined/.test(err))
    const audit = (await runCli(['audit', 'tail', '-n', '500', '--data', node.dataDir, '--json'])).stdout.trim().split('\n').map(l => JSON.parse(l))
    expect(audit.filter(e => e.action === 'learned.quarantined').map(e => e.subject)).to.deep.equal([badCid])
    expect(audit.filter(e => e.action === 'learned.quarantine-lifted').map(e => e.actor)).to.deep.equal(['user:root'])
    expect((await getJson(`${node.api}/v1/tasks/${await submit('csv-fields', 100)}`)).skill.version).to.equal('1.1.0')
  })
})

import { expect } from 'chai'
import { join } from 'node:path'
import { randomInt } from 'node:crypto'
import { decodeCanonical } from '../../../protocol/index.js'
import { Bucket, NodeStore } from '../../../node/store/index.js'
import { REPO, runCli, startCliNode, tempDir, waitFor, getJson, type CliNode } from '../../utils/cli-node.js'

/**
 * R8 for the audit trail: a node killed with SIGKILL in the middle of a burst of submissions
 * (each one a synced batch of the task and its audit entries), twenty times over on one data
 * dir. After every kill the chain verifies, every task the node answered 201 for is stored,
 * and every stored task has its `task.accepted` entry: the entry and the state change it
 * records land together or not at all.
 */
const SLEEP = join(REPO, 'test', 'fixtures', 'skills', 'sleep')
const ROUNDS = 20

describe('audit trail under kill -9 (R8)', function () {
  this.timeout(600_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let dataDir: string
  let author: string
  let keyFile: string
  let node: CliNode | undefined

  const start = async (): Promise<CliNode> => await startCliNode({ dataDir, args: ['--slots', '0', '--trust-author', author], timeoutMs: 30_000 })

  before(async function () {
    this.timeout(180_000)
    tmp = await tempDir('aas-audit-crash-')
    dataDir = join(tmp.path, 'node')
    keyFile = join(tmp.path, 'author.key')
    const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
    expect(k.code, k.stderr).to.equal(0)
    author = JSON.parse(k.stdout).publicKey
    node = await start()
    const pub = await runCli(['skill', 'publish', SLEEP, '--key', keyFile, '--api', node.api, '--json'], { timeoutMs: 120_000 })
    expect(pub.code, pub.stderr).to.equal(0)
    await node.stop()
    node = undefined
  })

  after(async function () {
    await node?.kill()
    await tmp?.remove()
  })

  it(`keeps a whole chain and every accepted task's entry across ${ROUNDS} kills mid-burst`, async function () {
    const accepted = new Set<string>()
    let entriesBefore = 0
    for (let round = 0; round < ROUNDS; round++) {
      node = await start()
      const api = node.api
      await waitFor(async () => (await getJson(`${api}/v1/skills/sleep-echo`)).name === 'sleep-echo', 'the skill in the index after restart', 10_000, 50)
      // a burst: submissions back to back from several clients, until the kill cuts them off
      let stop = false
      const client = async (c: number): Promise<void> => {
        for (let i = 0; !stop; i++) {
          try {
            const res = await fetch(`${api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ skill: 'sleep-echo', input: { ms: 1, tag: `r${round}-c${c}-${i}` }, timeoutS: 3600 }) })
            if (res.status === 201) accepted.add((await res.json() as { id: string }).id)
          } catch {
            return // the node is gone
          }
        }
      }
      const clients = Array.from({ length: 4 }, async (_, c) => await client(c))
      // kill once some of this round's submissions are through, at a random point after that
      const seen = accepted.size
      await waitFor(() => accepted.size >= seen + 3, `round ${round}: the first submissions`, 20_000, 5)
      await new Promise(resolve => setTimeout(resolve, randomInt(0, 150))) // a random kill point, not a wait for an event
      await node.kill()
      stop = true
      await Promise.all(clients)
      node = undefined

      const v = await runCli(['audit', 'verify', '--data', dataDir, '--json'])
      expect(v.code, `round ${round}: ${v.stdout} ${v.stderr}`).to.equal(0)
      const report = JSON.parse(v.stdout)
      expect(report.ok).to.equal(true)
      expect(report.entries, `round ${round}: the log grew`).to.be.greaterThan(entriesBefore)
      entriesBefore = report.entries

      const store = new NodeStore(dataDir)
      await store.open()
      try {
        const stored = new Set<string>()
        for await (const [, value] of store.sublevel(Bucket.tasks).iterator({ gte: 't!', lt: 't!\xff' })) stored.add((decodeCanonical(value) as { id: string }).id)
        const audited = new Set<string>()
        for await (const [, value] of store.sublevel(Bucket.audit).iterator({ gte: 'e!', lt: 'e!\xff' })) {
          const e = decodeCanonical(value) as { action: string, subject: string }
          if (e.action === 'task.accepted') audited.add(e.subject)
        }
        for (const id of accepted) expect(stored.has(id), `round ${round}: task ${id} was answered 201 but is not stored`).to.equal(true)
        for (const id of stored) expect(audited.has(id), `round ${round}: stored task ${id} has no task.accepted entry`).to.equal(true)
      } finally {
        await store.close()
      }
    }
    expect(accepted.size).to.be.greaterThan(ROUNDS * 3)
  })
})

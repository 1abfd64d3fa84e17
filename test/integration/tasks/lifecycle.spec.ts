import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { rmTree } from '../../../skills/bundle/index.js'
import { REPO, runCli, startCliNode, getJson, waitFor, tempDir, testTeam, type CliNode, type CliResult, freePort } from '../../utils/cli-node.js'
import { loadCliKey } from '../../../node/cli/peer.js'
import { sandboxContainers } from '../../utils/sandbox.js'

/**
 * The task lifecycle across real node processes, through the real CLI and HTTP API.
 * A, B and C execute (2 slots each; B and C bootstrap to A); D only originates (0 slots), so
 * every task it owns runs elsewhere. Leases are 3 s (config file), so a lost executor is
 * noticed quickly. Covered: 100 tasks run once each across the mesh; an executor killed
 * (SIGKILL) mid-run loses its lease and the task succeeds on another node; an origin killed
 * with tasks in flight resumes them after a restart on the same data dir; submissions that
 * cannot be run are refused with one line and store nothing; the CLI as a libp2p peer;
 * cancel and watch.
 */
const CSV_CLEAN = join(REPO, 'skills', 'examples', 'csv-clean')
const SLEEP = join(REPO, 'test', 'fixtures', 'skills', 'sleep')
const OPEN = new Set(['offered', 'assigned'])
const TERMINAL = new Set(['succeeded', 'failed', 'cancelled'])

async function submit (api: string, body: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) })
  const answer = await res.json() as { id?: string, message?: string }
  if (res.status !== 201 || typeof answer.id !== 'string') throw new Error(`submit to ${api}: HTTP ${res.status} ${JSON.stringify(answer)}`)
  return answer.id
}

async function metric (api: string, name: string): Promise<number> {
  const text = await (await fetch(`${api}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
  const m = new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)
  if (m == null) throw new Error(`${api}/metrics has no ${name}`)
  return Number(m[1])
}

/** A task's attempts and history, for assertion messages. */
const show = (t: any): string => JSON.stringify({ state: t.state, executor: t.executor, error: t.error, attemptsLog: t.attemptsLog, history: t.history })

/** One line on stderr that starts with "aas: ", nothing on stdout, a non-zero exit. */
function expectRefused (r: CliResult, pattern: RegExp, what: string): void {
  const err = r.stderr.trim()
  expect(r.code, `${what}: exit code (stderr: ${r.stderr})`).to.be.a('number').and.not.equal(0)
  expect(err.split('\n'), `${what}: one line on stderr, got ${JSON.stringify(r.stderr)}`).to.have.length(1)
  expect(err, what).to.match(/^aas: /)
  expect(err, what).to.match(pattern)
  expect(r.stdout, `${what}: nothing on stdout`).to.equal('')
}

describe('task lifecycle across CLI nodes', function () {
  this.timeout(240_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let author: string
  let keyFile: string
  let config: string
  let cliEnv: Record<string, string>
  let a: CliNode
  let b: CliNode
  let c: CliNode
  let d: CliNode
  let dArgs: string[]
  const nodes: CliNode[] = []

  const nodeArgs = (slots: number): string[] => ['--config', config, '--slots', String(slots), '--trust-author', author]
  const start = async (name: string, bootstrap: string[], args: string[]): Promise<CliNode> => {
    const n = await startCliNode({ dataDir: join(tmp.path, name), bootstrap, args, timeoutMs: 30_000 })
    nodes.push(n)
    return n
  }
  const replace = (old: CliNode, fresh: CliNode): void => { nodes[nodes.indexOf(old)] = fresh }
  const executors = (): CliNode[] => [a, b, c]
  const byPeer = (peer: string | null): CliNode | undefined => executors().find(n => n.peerId === peer)
  const name = (peer: string | null): string => peer === a.peerId ? 'A' : peer === b.peerId ? 'B' : peer === c.peerId ? 'C' : peer === d.peerId ? 'D' : String(peer)
  const task = async (api: string, id: string): Promise<any> => await getJson(`${api}/v1/tasks/${id}`)
  const taskCount = async (api: string): Promise<number> => (await getJson<unknown[]>(`${api}/v1/tasks?limit=10000`)).length

  before(async function () {
    this.timeout(180_000)
    tmp = await tempDir('aas-tasks-')
    keyFile = join(tmp.path, 'author.json')
    const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
    expect(k.code, k.stderr).to.equal(0)
    author = JSON.parse(k.stdout).publicKey
    cliEnv = { AAS_CLI_KEY: join(tmp.path, 'cli.key') }
    // the CLI peer is a publisher of the nodes' team: its certificate sits beside its key
    const cliKey = await loadCliKey(cliEnv.AAS_CLI_KEY)
    await (await testTeam()).admitKey(cliKey.publicKey.raw, join(tmp.path, 'cli.cert'), ['publisher'])
    config = join(tmp.path, 'node.json')
    await writeFile(config, JSON.stringify({ tasks: { leaseS: 3 } }))

    a = await start('a', [], nodeArgs(2))
    // D, the origin without slots, gets fixed ports so that its restart (test c) is the same node at the same address
    dArgs = [...nodeArgs(0), '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`, '--api', `127.0.0.1:${await freePort()}`]
    ;[b, c, d] = await Promise.all([
      start('b', [a.addresses[0]], nodeArgs(2)),
      start('c', [a.addresses[0]], nodeArgs(2)),
      start('d', [a.addresses[0]], dArgs)
    ])
    // a full mesh: executors bid to D over streams, so they need D's addresses (hello gossip)
    await waitFor(async () => {
      const counts = await Promise.all([a, b, c, d].map(async n => (await getJson(`${n.api}/v1/node`)).peers.length as number))
      if (counts.every(n => n >= 3)) return true
      await Promise.all([a, b, c, d].map(async n => await getJson(`${n.api}/v1/hello`, { method: 'POST' })))
      return false
    }, 'a full mesh of A, B, C, D', 30_000, 500)

    for (const dir of [CSV_CLEAN, SLEEP]) {
      const pub = await runCli(['skill', 'publish', dir, '--key', keyFile, '--api', a.api, '--json'], { timeoutMs: 90_000 })
      expect(pub.code, pub.stderr).to.equal(0)
    }
    for (const n of [a, b, c, d]) {
      for (const skill of ['csv-clean', 'sleep-echo']) {
        await waitFor(async () => (await getJson(`${n.api}/v1/skills/${skill}`)).name === skill, `${skill} in the index of ${n.peerId}`, 15_000, 200)
      }
    }
    // B and C hold the bundles too, so no executor wins bids just because it published them
    for (const n of [b, c]) {
      for (const skill of ['csv-clean', 'sleep-echo']) {
        const r = await runCli(['skill', 'fetch', skill, '--api', n.api, '--json'], { timeoutMs: 60_000 })
        expect(r.code, r.stderr).to.equal(0)
      }
    }
  })

  after(async function () {
    this.timeout(60_000)
    await Promise.all(nodes.map(async n => await n.stop().catch(() => {})))
    if (tmp != null) await rmTree(tmp.path) // fetched skills are unpacked read-only
  })

  it('runs 100 tasks submitted to A on several executors, each once, with correct outputs', async function () {
    this.timeout(180_000)
    const started = Date.now()
    const inputs = Array.from({ length: 100 }, (_, i) => ({ csv: `id,name\n ${i} , n${i} \n\n${i},n${i}\n` }))
    const ids: string[] = []
    for (let i = 0; i < inputs.length; i += 20) {
      ids.push(...await Promise.all(inputs.slice(i, i + 20).map(async input => await submit(a.api, { skill: 'csv-clean', input }))))
    }
    expect(new Set(ids).size).to.equal(100)
    const mine = new Set(ids)

    let broken: any[] = []
    await waitFor(async () => {
      const [done, failed, cancelled] = await Promise.all(['succeeded', 'failed', 'cancelled'].map(async s => await getJson<any[]>(`${a.api}/v1/tasks?state=${s}&limit=10000`)))
      broken = [...failed, ...cancelled].filter(t => mine.has(t.id))
      if (broken.length > 0) return true
      return done.filter(t => mine.has(t.id)).length === 100
    }, '100 tasks to succeed', 150_000, 500)
    expect(broken, 'tasks that did not succeed').to.deep.equal([])
    const elapsed = Date.now() - started

    const tasks: any[] = []
    for (let i = 0; i < ids.length; i += 20) tasks.push(...await Promise.all(ids.slice(i, i + 20).map(async id => await task(a.api, id))))
    const perExecutor = new Map<string, number>()
    for (const [i, t] of tasks.entries()) {
      expect(t.state, t.id).to.equal('succeeded')
      expect(t.output, `output of task ${i}`).to.deep.equal({ csv: `id,name\n${i},n${i}\n`, rows: 1, removedDuplicates: 1, removedBlank: 1, unparsedDates: [] })
      perExecutor.set(name(t.executor), (perExecutor.get(name(t.executor)) ?? 0) + 1)
      // run once: one attempt, unless a lease expired on the way
      const expired = t.history.some((h: any) => h.state === 'lease-expired')
      if (!expired) expect(t.attemptsLog, `attempts of ${t.id}: ${show(t)}`).to.have.length(1)
      expect(t.attemptsLog.filter((x: any) => x.status === 'succeeded'), `succeeded attempts of ${t.id}`).to.have.length(1)
      expect(t.history.filter((h: any) => h.state === 'result' && h.detail === 'succeeded'), `accepted results of ${t.id}`).to.have.length(1)
      expect(t.history.filter((h: any) => h.state === 'succeeded'), `completions of ${t.id}`).to.have.length(1)
      expect(t.attemptsLog.at(-1).executor).to.equal(t.executor)
      expect(byPeer(t.executor), `executor of ${t.id}`).to.not.equal(undefined)
    }
    console.log(`      100 tasks in ${elapsed} ms; by executor: ${JSON.stringify(Object.fromEntries(perExecutor))}; lease expiries: ${tasks.filter(t => t.history.some((h: any) => h.state === 'lease-expired')).length}`)
    expect(perExecutor.size, 'distinct executors').to.be.at.least(2)

    // the origin's books: finished counter, and its MemoryEngine saw every input of this release
    expect(await metric(a.api, 'aas_tasks_finished_total{state="succeeded"}')).to.be.at.least(100)
    const memory = await getJson(`${a.api}/v1/memory`)
    const cid = tasks[0].skill.cid
    const summary = memory.skills.find((s: any) => s.skill === cid)
    expect(summary, 'memory summary of csv-clean').to.not.equal(undefined)
    expect(summary.successes).to.be.at.least(100)
    expect(summary.inputs).to.be.at.least(100)
    expect(memory.executor).to.deep.equal({ slots: 2, busy: 0 })

    // the origin's audit trail: every task's accepted → offered → assigned → result → finished, in order
    const entries: any[] = []
    for (let from = 1; ; from += 1000) {
      const page = await getJson<{ entries: any[] }>(`${a.api}/v1/audit?from=${from}&limit=1000`)
      entries.push(...page.entries)
      if (page.entries.length < 1000) break
    }
    const order = ['task.accepted', 'task.offered', 'task.assigned', 'task.result-accepted', 'task.finished']
    for (const id of ids) {
      const actions = entries.filter(e => e.subject === id).map(e => e.action as string)
      const firsts = order.map(action => actions.indexOf(action))
      expect(firsts.every(i => i >= 0), `audit of ${id}: ${actions.join(' → ')}`).to.equal(true)
      expect(firsts, `audit of ${id} in order: ${actions.join(' → ')}`).to.deep.equal([...firsts].sort((x, y) => x - y))
      expect(actions.filter(x => x === 'task.accepted'), `one acceptance of ${id}`).to.have.length(1)
      expect(actions.filter(x => x === 'task.finished'), `one end of ${id}`).to.have.length(1)
    }
    const verify = await runCli(['audit', 'verify', '--data', a.dataDir, '--json'])
    expect(verify.code, verify.stdout + verify.stderr).to.equal(0)
    expect(JSON.parse(verify.stdout)).to.include({ ok: true })
  })

  it('an executor killed with SIGKILL mid-run loses its lease; the task succeeds on another node, once', async function () {
    this.timeout(120_000)
    // D (no slots) is the origin, so A, B and C all bid. A has 2 slots: each task that lands on A
    // fills one, so by the third submission at the latest a task lands on B or C.
    let id: string | undefined
    let victim: CliNode | undefined
    const bystanders: string[] = []
    for (let i = 0; i < 3 && victim == null; i++) {
      const r = await runCli(['task', 'submit', '--skill', 'sleep-echo', '--input', JSON.stringify({ ms: 8000, tag: `lease-${i}` }), '--api', d.api, '--attempts', '3', '--json'])
      expect(r.code, r.stderr).to.equal(0)
      const tid = JSON.parse(r.stdout).id as string
      const t = await waitFor(async () => { const x = await task(d.api, tid); return x.state === 'assigned' ? x : undefined }, `task ${tid} to be assigned`, 20_000, 50)
      if (t.executor === b.peerId || t.executor === c.peerId) { id = tid; victim = byPeer(t.executor) } else bystanders.push(tid)
    }
    expect(victim, 'a task assigned to B or C').to.not.equal(undefined)
    const killedPeer = victim!.peerId
    const expiriesBefore = await metric(d.api, 'aas_task_lease_expiries_total')
    await victim!.kill()
    const killedAt = Date.now()
    try {
      const t = await waitFor(async () => { const x = await task(d.api, id!); return TERMINAL.has(x.state) ? x : undefined }, `task ${id!} to end`, 60_000, 250)
      console.log(`      ${name(killedPeer)} killed; task ended ${Date.now() - killedAt} ms later on ${name(t.executor)} (${bystanders.length} task(s) landed on A first)`)
      expect(t.state, show(t)).to.equal('succeeded')
      expect(t.output).to.deep.equal({ tag: `lease-${bystanders.length}`, slept: 8000 })
      expect(t.executor).to.not.equal(killedPeer)
      expect(byPeer(t.executor), 'the new executor is one of A, B, C').to.not.equal(undefined)
      const expired = t.history.filter((h: any) => h.state === 'lease-expired')
      expect(expired, `lease-expired entries: ${show(t)}`).to.have.length(1)
      expect(expired[0]).to.include({ attempt: 1, executor: killedPeer })
      expect(t.attemptsLog, show(t)).to.have.length(2)
      expect(t.attemptsLog[0]).to.include({ attempt: 1, executor: killedPeer, status: 'lease-expired' })
      expect(t.attemptsLog[1]).to.include({ attempt: 2, executor: t.executor, status: 'succeeded' })
      expect(t.attempts).to.equal(2)
      // one accepted result, no late ones
      expect(t.history.filter((h: any) => h.state === 'result'), show(t)).to.have.length(1)
      expect(t.history.filter((h: any) => h.state === 'late-result'), show(t)).to.have.length(0)
      expect(t.history.filter((h: any) => h.state === 'succeeded'), show(t)).to.have.length(1)
      expect(await metric(d.api, 'aas_task_lease_expiries_total')).to.be.at.least(Math.max(1, expiriesBefore + 1))

      for (const other of bystanders) {
        const x = await waitFor(async () => { const y = await task(d.api, other); return TERMINAL.has(y.state) ? y : undefined }, `task ${other} to end`, 30_000, 250)
        expect(x.state, show(x)).to.equal('succeeded')
      }
    } finally {
      // the killed executor comes back on its data dir, for the tests that follow
      const fresh = await startCliNode({ dataDir: victim!.dataDir, bootstrap: [a.addresses[0]], args: nodeArgs(2), timeoutMs: 30_000 })
      replace(victim!, fresh)
      if (victim === b) b = fresh; else c = fresh
      expect(fresh.peerId).to.equal(killedPeer)
      await waitFor(async () => (await getJson(`${fresh.api}/v1/node`)).peers.length >= 3, 'the restarted executor to rejoin the mesh', 20_000, 200)
    }
    // it kept no result of the lost attempt to deliver late. This proves an absence, so time
    // has to pass: a restarted executor sends the results it kept at start and retries every
    // 1 s, and no event marks "it had nothing to send"
    await new Promise(resolve => setTimeout(resolve, 1500))
    const after = await task(d.api, id!)
    expect(after.state).to.equal('succeeded')
    expect(after.history.filter((h: any) => h.state === 'late-result'), show(after)).to.have.length(0)
  })

  it('an executor frozen with SIGSTOP past its lease: the task succeeds elsewhere, and the late result is recorded, not accepted', async function () {
    this.timeout(120_000)
    let id: string | undefined
    let victim: CliNode | undefined
    for (let i = 0; i < 3 && victim == null; i++) {
      const tid = await submit(d.api, { skill: 'sleep-echo', input: { ms: 4000, tag: `stop-${i}` }, attempts: 3 })
      const t = await waitFor(async () => { const x = await task(d.api, tid); return x.state === 'assigned' ? x : undefined }, `task ${tid} to be assigned`, 20_000, 50)
      if (t.executor === b.peerId || t.executor === c.peerId) { id = tid; victim = byPeer(t.executor) }
    }
    expect(victim, 'a task assigned to B or C').to.not.equal(undefined)
    const frozen = victim!
    frozen.process.kill('SIGSTOP')
    try {
      const t = await waitFor(async () => { const x = await task(d.api, id!); return TERMINAL.has(x.state) ? x : undefined }, `task ${id!} to end`, 60_000, 250)
      expect(t.state, show(t)).to.equal('succeeded')
      expect(t.executor).to.not.equal(frozen.peerId)
    } finally {
      frozen.process.kill('SIGCONT')
    }
    // thawed, the executor finds its lease gone; whatever it still delivers is only recorded.
    // Its run is over once its slot is free (a result is sent before the slot is), and then
    // it is a working executor again
    await waitFor(async () => (await getJson(`${frozen.api}/v1/memory`)).executor.busy === 0, 'the thawed executor to end its run', 30_000, 250)
    const after = await task(d.api, id!)
    expect(after.state, show(after)).to.equal('succeeded')
    expect(after.executor).to.not.equal(frozen.peerId)
    expect(after.history.filter((h: any) => h.state === 'succeeded'), show(after)).to.have.length(1)
    expect(after.history.filter((h: any) => h.state === 'result' && h.executor === frozen.peerId), show(after)).to.have.length(0)
    expect(after.history.filter((h: any) => h.state === 'late-result').length, show(after)).to.be.at.most(1)
    expect(after.attemptsLog[0]).to.include({ attempt: 1, executor: frozen.peerId, status: 'lease-expired' })
  })

  // Two outages: a quick restart (the leases granted before the kill still run when the origin
  // is back, and executors renew them), and one longer than the 3 s lease (the executors finish
  // while the origin is down and keep their signed results; the origin gives them a lease's
  // time after the restart, and the results arrive then).
  for (const [round, downMs] of [[1, 500], [2, 4500]] as const) {
    it(`an origin killed with tasks in flight and restarted on its data dir drives every task to an end (outage ${round}: down ${downMs} ms + start)`, async function () {
      this.timeout(90_000)
      await waitFor(async () => (await Promise.all(executors().map(async n => (await getJson(`${n.api}/v1/memory`)).executor.busy as number))).every(x => x === 0), 'idle executors', 30_000, 200)
      const ids = await Promise.all(Array.from({ length: 6 }, async (_, i) => await submit(d.api, { skill: 'sleep-echo', input: { ms: 3000, tag: `restart-${round}-${i}` } })))
      await waitFor(async () => (await Promise.all(ids.map(async id => await task(d.api, id)))).filter(t => t.state === 'assigned').length >= 3, 'at least 3 of 6 tasks assigned', 20_000, 50)
      const before = await Promise.all(ids.map(async id => await task(d.api, id)))
      expect(before.every(t => OPEN.has(t.state)), 'all still open when the origin is killed').to.equal(true)
      const old = { api: d.api, peerId: d.peerId, addresses: d.addresses }
      await d.kill()
      const killedAt = Date.now()
      await new Promise(resolve => setTimeout(resolve, downMs)) // the outage itself: its length is the case under test
      const fresh = await startCliNode({ dataDir: d.dataDir, bootstrap: [a.addresses[0]], args: dArgs, timeoutMs: 30_000 })
      replace(d, fresh)
      d = fresh
      const restartedAt = Date.now()
      expect(d.peerId).to.equal(old.peerId)
      expect(d.api).to.equal(old.api)
      expect(d.addresses.filter(x => old.addresses.includes(x)), 'the fixed listen address is back').to.not.deep.equal([])

      const end = await waitFor(async () => {
        const list = await getJson<any[]>(`${d.api}/v1/tasks?limit=10000`)
        const ours = list.filter(t => ids.includes(t.id))
        return ours.length === 6 && ours.every(t => !OPEN.has(t.state)) ? ours : undefined
      }, 'all 6 tasks of the restarted origin to end', 60_000, 250)
      const detail = await Promise.all(ids.map(async id => await task(d.api, id)))
      console.log(`      ${before.filter(t => t.state === 'assigned').length} assigned at the kill; down ${restartedAt - killedAt} ms; all ended ${Date.now() - restartedAt} ms after the restart: ${detail.map(t => `${t.state} by attempt ${String(t.attemptsLog.find((x: any) => x.status === 'succeeded')?.attempt)} of ${t.attemptsLog.length}${t.history.some((h: any) => h.state === 'lease-expired') ? ' (lease expired)' : ''}`).join(', ')}`)
      expect(end.map(t => t.state), detail.map(show).join('\n')).to.deep.equal(Array(6).fill('succeeded'))
      for (const [i, t] of detail.entries()) {
        expect(t.output).to.deep.equal({ tag: `restart-${round}-${i}`, slept: 3000 })
        expect(t.history.filter((h: any) => h.state === 'succeeded'), show(t)).to.have.length(1)
        expect(t.attemptsLog.filter((x: any) => x.status === 'succeeded'), show(t)).to.have.length(1)
        // run once: the executors kept running (and renewing) across the outage, so an attempt
        // is repeated only when its lease expired (an assignment the kill cut off, say)
        if (!t.history.some((h: any) => h.state === 'lease-expired')) expect(t.attemptsLog, show(t)).to.have.length(1)
        // the result of the attempt that counted comes from the executor the task names
        expect(t.attemptsLog.find((x: any) => x.status === 'succeeded').executor).to.equal(t.executor)
      }
      expect(await metric(d.api, 'aas_tasks_open{state="assigned"}')).to.equal(0)
      expect(await metric(d.api, 'aas_tasks_open{state="offered"}')).to.equal(0)
    })
  }

  it('refuses submissions it cannot run with one line on stderr, and stores nothing', async function () {
    this.timeout(120_000)
    const before = await taskCount(a.api)
    const csv = JSON.stringify({ csv: 'a\n1\n' })
    const big = join(tmp.path, 'big.json')
    await writeFile(big, JSON.stringify({ csv: 'x'.repeat(1024 * 1024 + 1024) }))
    const huge = join(tmp.path, 'huge.json')
    await writeFile(huge, JSON.stringify({ csv: 'x'.repeat(3 * 1024 * 1024) }))
    const api = ['--api', a.api]
    const node = ['--node', a.addresses[0]]
    const cases: Array<[string, string[], RegExp]> = [
      ['unknown skill', ['--skill', 'no-such-skill', '--input', csv, ...api], /no trusted skill release matches "no-such-skill"/],
      ['unknown skill (--node)', ['--skill', 'no-such-skill', '--input', csv, ...node], /no trusted skill release matches "no-such-skill"/],
      ['input missing a required field', ['--skill', 'csv-clean', '--input', '{"text":"a"}', ...api], /input does not match csv-clean's input schema: .*csv/],
      ['input out of range', ['--skill', 'sleep-echo', '--input', '{"ms":60001}', ...api], /input does not match sleep-echo's input schema: field "ms" must be <= 60000/],
      ['input of the wrong type (--node)', ['--skill', 'sleep-echo', '--input', '{"ms":"1"}', ...node], /input does not match sleep-echo's input schema: field "ms" must be integer/],
      ['input over 1 MiB', ['--skill', 'csv-clean', '--input', `@${big}`, ...api], /input is \d+ bytes, over the 1048576 byte limit/],
      ['input over the API body limit', ['--skill', 'csv-clean', '--input', `@${huge}`, ...api], /too large|over the .* limit/i],
      ['malformed --input JSON', ['--skill', 'csv-clean', '--input', '{"csv": ', ...api], /--input is not valid JSON/],
      ['missing --input file', ['--skill', 'csv-clean', '--input', `@${join(tmp.path, 'nope.json')}`, ...api], /--input: cannot read .*nope\.json \(ENOENT\)/],
      ['unreachable --api', ['--skill', 'csv-clean', '--input', csv, '--api', 'http://127.0.0.1:1'], /no AAS node answers at http:\/\/127\.0\.0\.1:1/],
      ['unreachable --node', ['--skill', 'csv-clean', '--input', csv, '--node', `/ip4/127.0.0.1/tcp/1/p2p/${a.peerId}`], /cannot reach the node at \/ip4\/127\.0\.0\.1\/tcp\/1\//],
      ['--node without /p2p', ['--skill', 'csv-clean', '--input', csv, '--node', '/ip4/127.0.0.1/tcp/1'], /lacks \/p2p\/<peer id>/],
      ['bad --attempts', ['--skill', 'csv-clean', '--input', csv, '--attempts', '0', ...api], /--attempts: "0" is not a whole number from 1 to 20/]
    ]
    for (const [what, args, pattern] of cases) {
      // a CLI that hangs is killed at timeoutMs, and then has no exit code to refuse with
      const r = await runCli(['task', 'submit', ...args], { env: cliEnv, timeoutMs: 30_000 })
      expectRefused(r, pattern, what)
    }
    expect(await taskCount(a.api)).to.equal(before)
  })

  it('the oversize input over --node is refused with a clear line, not a connection error', async function () {
    this.timeout(60_000)
    const before = await taskCount(a.api)
    const big = join(tmp.path, 'big-node.json')
    await writeFile(big, JSON.stringify({ csv: 'x'.repeat(1024 * 1024 + 1024 * 8) }))
    const r = await runCli(['task', 'submit', '--skill', 'csv-clean', '--input', `@${big}`, '--node', a.addresses[0]], { env: cliEnv, timeoutMs: 30_000 })
    expectRefused(r, /input is \d+ bytes, over the 1048576 byte limit|too large/, 'input over 1 MiB (--node)')
    expect(await taskCount(a.api)).to.equal(before)
  })

  it('aas task submit --node MULTIADDR --wait --json submits as a libp2p peer and prints the outcome', async function () {
    this.timeout(60_000)
    const input = { csv: 'when,who\n03/12/2024, Ada \n03/12/2024,Ada\n', dateColumns: ['when'] }
    const r = await runCli(['task', 'submit', '--node', a.addresses[0], '--skill', 'csv-clean@^1', '--input', JSON.stringify(input), '--wait', '--json'], { env: cliEnv, timeoutMs: 60_000 })
    expect(r.code, r.stderr).to.equal(0)
    expect(r.stdout.trim().split('\n'), 'one JSON line').to.have.length(1)
    const out = JSON.parse(r.stdout)
    expect(Object.keys(out).sort()).to.deep.equal(['annotation', 'attempts', 'durationMs', 'error', 'executor', 'id', 'output', 'resolvedBy', 'state'])
    expect(out).to.include({ state: 'succeeded', attempts: 1, error: null })
    expect(out.output).to.deep.equal({ csv: 'when,who\n2024-03-12,Ada\n', rows: 1, removedDuplicates: 1, removedBlank: 0, unparsedDates: [] })
    expect(byPeer(out.executor), 'executor is a mesh node').to.not.equal(undefined)
    expect(out.durationMs).to.be.a('number').and.at.least(0)
    // A is the origin: it has the task on its books
    const t = await task(a.api, out.id)
    expect(t).to.include({ state: 'succeeded', executor: out.executor })
    expect(t.output).to.deep.equal(out.output)

    // status over the libp2p peer too
    const s = await runCli(['task', 'status', out.id, '--node', a.addresses[0], '--json'], { env: cliEnv, timeoutMs: 30_000 })
    expect(s.code, s.stderr).to.equal(0)
    expect(JSON.parse(s.stdout)).to.include({ id: out.id, state: 'succeeded' })
  })

  it('aas task cancel stops a long task; aas task watch prints each state change until it ends', async function () {
    this.timeout(90_000)
    const sub = await runCli(['task', 'submit', '--skill', 'sleep-echo', '--input', '{"ms":30000,"tag":"cancel-me"}', '--api', a.api, '--json'])
    expect(sub.code, sub.stderr).to.equal(0)
    const { id } = JSON.parse(sub.stdout) as { id: string }
    let watched = ''
    const watch = runCli(['task', 'watch', id, '--api', a.api], { timeoutMs: 60_000, onStdout: (out) => { watched = out } })
    const assigned = await waitFor(async () => { const t = await task(a.api, id); return t.state === 'assigned' ? t : undefined }, `task ${id} to be assigned`, 20_000, 50)
    const runner = byPeer(assigned.executor)!
    expect(runner, 'executor').to.not.equal(undefined)
    // let the run start in the sandbox: the executor's container is running
    await waitFor(async () => (await sandboxContainers(runner.process.pid!)).length === 1, 'the executor\'s sandbox container to run', 30_000, 100)
    // and the watch is following (its first line is the task as it is now)
    await waitFor(() => watched.includes('  assigned  on '), 'the watch to print the assignment', 30_000, 50)

    const cancel = await runCli(['task', 'cancel', id, '--api', a.api])
    expect(cancel.code, cancel.stderr).to.equal(0)
    expect(cancel.stdout.trim()).to.equal(`${id}  cancelled`)
    const t = await task(a.api, id)
    expect(t.state).to.equal('cancelled')
    expect(t.error).to.equal('cancelled by the submitter')

    // the watch ends with the task: it exits by itself (a watch still running is killed at
    // runCli's timeout, with no exit code), and its last line is the cancellation
    const w = await watch
    expect(w.code, `watch ended by itself (stderr: ${w.stderr})`).to.equal(1) // like submit --wait: 0 only for succeeded
    const states = w.stdout.trim().split('\n').map(l => /^\S+ {2}(\w+)/.exec(l)?.[1])
    expect(states.at(-1), w.stdout).to.equal('cancelled')
    expect(states, w.stdout).to.include('assigned')
    expect(states.every(s => s != null && ['offered', 'assigned', 'cancelled'].includes(s)), w.stdout).to.equal(true)
    expect(w.stdout.trim().split('\n').find(l => / {2}assigned {2}on /.test(l)), w.stdout).to.include(assigned.executor)

    // the executor stops the run (its lease renewal is refused): its slot is free and its
    // container gone. A run that had finished its 30 s sleep instead would have sent its
    // result (before freeing the slot), and the origin would show it as a late result
    await waitFor(async () => (await getJson(`${runner.api}/v1/memory`)).executor.busy === 0 && (await sandboxContainers(runner.process.pid!)).length === 0, 'the executor to stop the cancelled run', 45_000, 200)
    const later = await task(a.api, id)
    expect(later.state).to.equal('cancelled')
    expect(later.history.filter((h: any) => ['result', 'late-result', 'succeeded'].includes(h.state)), show(later)).to.deep.equal([])

    // cancelling an unknown task is a clear error
    const unknown = await runCli(['task', 'cancel', 'bafyreinosuchtask', '--api', a.api])
    expectRefused(unknown, /no such task on this node/, 'cancel of an unknown task')
  })
})

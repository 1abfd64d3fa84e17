import { expect } from 'chai'
import { taskIdFor, TASK_INPUT_MAX_BYTES, type AuditEntry, type TaskClaimBody } from '../../../../protocol/index.js'
import { Bucket } from '../../../../node/store/index.js'
import {
  announcer, pickBid, SubmitErrorCode, TaskOrigin, TaskStateMachine, TaskStore,
  type OriginOptions, type SubmitRequest, type TaskEvent, type TaskRecord
} from '../../../../node/tasks/index.js'
import { defaultSandboxOptions } from '../../../../skills/sandbox/index.js'
import { refusal } from '../../../utils/refusal.js'
import { TEST_TEAM_TOPIC, Clock, Disk, GossipStub, indexStub, newPeerId, silentLog, SKILL_NAME, skillRelease, T0 } from '../../../utils/task-rig.js'

/**
 * The origin of a node's tasks (DESIGN.md "Task lifecycle") driven by a manual clock and
 * `tick()`, over a real LevelDB and audit log, with a gossip stub that keeps what it was asked
 * to publish: submit and its refusals, the bid window, leases, results, deadlines, re-offers
 * with backoff, cancel, and a restart on the same data dir.
 */
const LEASE = 10_000
const REOFFER = 1_000

describe('node/tasks: TaskOrigin', function () {
  let A: string, B: string, C: string, SUBMITTER: string
  let clock: Clock
  let disk: Disk
  let gossip: GossipStub
  let store: TaskStore
  let machine: TaskStateMachine
  let origin: TaskOrigin
  let events: TaskEvent[]

  before(async () => { [A, B, C, SUBMITTER] = await Promise.all([newPeerId(), newPeerId(), newPeerId(), newPeerId()]) })

  /** The parts as node.ts composes them, over `disk`; `origin.start({ tick: false })`. */
  async function boot (opts: Partial<OriginOptions> = {}): Promise<void> {
    const self = disk.signer.peerId
    gossip = new GossipStub()
    store = new TaskStore(disk.store.sublevel(Bucket.tasks))
    machine = new TaskStateMachine({ self, store, audit: disk.audit, now: clock.fn })
    machine.on(announcer({ self, gossip, log: silentLog(), teamTopic: TEST_TEAM_TOPIC }))
    events = []
    machine.on((e) => { events.push(e) })
    origin = new TaskOrigin(
      { self, store, machine, index: indexStub, gossip, metrics: null, log: silentLog(), now: clock.fn },
      { leaseMs: LEASE, bidWindowMs: 0, reofferMs: REOFFER, defaultTimeoutS: 300, defaultAttempts: 2, sandbox: defaultSandboxOptions, ...opts }
    )
    await origin.start({ tick: false })
  }

  beforeEach(async () => {
    clock = new Clock()
    disk = await Disk.open(clock, 'aas-origin-')
  })

  afterEach(async () => {
    origin?.stop()
    await disk.destroy()
  })

  const submit = async (req: Partial<SubmitRequest> = {}): Promise<TaskRecord> =>
    await origin.submit({ skill: SKILL_NAME, input: { text: 'one two three' }, ...req }, SUBMITTER)
  const bid = (t: TaskRecord, claim: Partial<TaskClaimBody> = {}): TaskClaimBody =>
    ({ taskId: t.id, attempt: t.attempt, freeSlots: 1, cached: false, load: 0, ...claim })
  const ok = (t: TaskRecord, output: unknown = { words: 3 }, attempt = t.attempt) =>
    ({ taskId: t.id, attempt, status: 'succeeded' as const, output, error: null, timings: { fetchMs: 20, sandboxMs: 300 } })
  const failed = (t: TaskRecord, attempt = t.attempt) =>
    ({ taskId: t.id, attempt, status: 'failed' as const, output: null, error: 'exit 1', timings: { fetchMs: 0, sandboxMs: 50 } })

  /** A task assigned to `exec` through a one-bid window. */
  async function assigned (exec: string, req: Partial<SubmitRequest> = {}): Promise<TaskRecord> {
    const t = await submit(req)
    const answer = await origin.claim(bid(t), exec)
    expect(answer.won, 'the only bidder wins').to.equal(true)
    return (await origin.get(t.id))!
  }

  /** Audit entries, events and gossip from here on. */
  function mark (): { audit: () => Promise<AuditEntry[]>, events: () => TaskEvent[], published: () => typeof gossip.published } {
    const seq = disk.audit.headSeq
    const n = events.length
    const p = gossip.published.length
    return { audit: async () => await disk.entries(seq + 1), events: () => events.slice(n), published: () => gossip.published.slice(p) }
  }

  async function expectNothingWritten (m: ReturnType<typeof mark>, id?: string, before?: TaskRecord): Promise<void> {
    expect((await m.audit()).map(e => e.action), 'audit entries').to.deep.equal([])
    expect(m.events().map(e => e.kind), 'events').to.deep.equal([])
    expect(m.published().map(p => p.type), 'gossip').to.deep.equal([])
    if (id != null) expect(await disk.onDisk(id), 'record on disk').to.deep.equal(before)
  }

  // --- submit -----------------------------------------------------------------------------------

  describe('submit', () => {
    beforeEach(async () => { await boot() })

    it('stores the task offered, gossips its offer after the write, audits accepted then offered', async () => {
      const t = await submit({ timeoutS: 60, attempts: 3 })
      expect([t.state, t.attempt, t.executor, t.deadline, t.offeredAt, t.exclude]).to.deep.equal(['offered', 1, null, T0 + 60_000, T0, []])
      expect(t.spec).to.deep.include({
        skill: { name: skillRelease.name, version: skillRelease.version, cid: skillRelease.cid, author: skillRelease.author },
        input: { text: 'one two three' },
        timeoutS: 60,
        attempts: 3,
        submitter: SUBMITTER,
        submittedAt: T0,
        resources: { ...defaultSandboxOptions.defaults, memoryMB: 128 }
      })
      expect(t.history).to.deep.equal([{ at: T0, state: 'offered', attempt: 1 }])
      expect(await disk.onDisk(t.id)).to.deep.equal(t)
      expect((await disk.entries()).map(e => [e.action, e.subject, e.actor])).to.deep.equal([
        ['task.accepted', t.id, SUBMITTER],
        ['task.offered', t.id, disk.signer.peerId]
      ])
      // a team task's offer names no skill, input size or resources: only the winner learns them
      expect(gossip.published).to.deep.equal([{
        type: 'task-offer',
        valid: true,
        body: { taskId: t.id, idSeed: t.idSeed, scope: 'team', attempt: 1, deadline: t.deadline, exclude: [], tier: 0 }
      }])
      // the id is bound to this origin's key
      expect(taskIdFor(disk.signer.publicKey, t.idSeed)).to.equal(t.id)
      expect(events.map(e => e.kind)).to.deep.equal(['accepted'])
    })

    it('takes the default timeout and attempts; two equal submissions are two tasks', async () => {
      const a = await submit()
      const b = await submit()
      expect([a.spec.timeoutS, a.spec.attempts, a.deadline]).to.deep.equal([300, 2, T0 + 300_000])
      expect(a.id).to.not.equal(b.id)
      expect(store.open.size).to.equal(2)
    })

    it('accepts an input of exactly TASK_INPUT_MAX_BYTES', async () => {
      const text = 'x'.repeat(TASK_INPUT_MAX_BYTES - JSON.stringify({ text: '' }).length)
      const t = await submit({ input: { text } })
      expect(Buffer.byteLength(JSON.stringify(t.spec.input))).to.equal(TASK_INPUT_MAX_BYTES)
    })

    const refused: Array<[string, Partial<SubmitRequest> & Record<string, unknown>, SubmitErrorCode]> = [
      ['an unknown skill', { skill: 'no-such-skill' }, SubmitErrorCode.UNKNOWN_SKILL],
      ['no skill', { skill: '' }, SubmitErrorCode.BAD_SUBMISSION],
      ['an input of the wrong type for the schema', { input: { text: 42 } }, SubmitErrorCode.INVALID_INPUT],
      ['an input missing a required field', { input: {} }, SubmitErrorCode.INVALID_INPUT],
      ['an input with a field the schema forbids', { input: { text: 'a', extra: true } }, SubmitErrorCode.INVALID_INPUT],
      ['an input one byte over TASK_INPUT_MAX_BYTES', { input: { text: 'x'.repeat(TASK_INPUT_MAX_BYTES - 10) } }, SubmitErrorCode.INPUT_TOO_LARGE],
      ['a timeout of 0', { timeoutS: 0 }, SubmitErrorCode.BAD_SUBMISSION],
      ['a timeout over a day', { timeoutS: 86_401 }, SubmitErrorCode.BAD_SUBMISSION],
      ['a fractional timeout', { timeoutS: 1.5 }, SubmitErrorCode.BAD_SUBMISSION],
      ['0 attempts', { attempts: 0 }, SubmitErrorCode.BAD_SUBMISSION],
      ['21 attempts', { attempts: 21 }, SubmitErrorCode.BAD_SUBMISSION],
      ['fractional attempts', { attempts: 2.5 }, SubmitErrorCode.BAD_SUBMISSION],
      ['no input', { input: undefined }, SubmitErrorCode.BAD_SUBMISSION]
    ]
    for (const [what, req, code] of refused) {
      it(`refuses ${what}: SubmitError ${code}, nothing stored, offered or audited`, async () => {
        const m = mark()
        const err = await refusal(origin.submit({ skill: SKILL_NAME, input: { text: 'a' }, ...req } as SubmitRequest, SUBMITTER))
        expect([err.name, err.code]).to.deep.equal(['SubmitError', code])
        await expectNothingWritten(m)
        expect(store.open.size).to.equal(0)
        const all: TaskRecord[] = []
        for await (const t of new TaskStore(disk.store.sublevel(Bucket.tasks)).all()) all.push(t)
        expect(all).to.deep.equal([])
      })
    }
  })

  // --- bids ----------------------------------------------------------------------------------------

  describe('bids', () => {
    it('an inflated claim does not win against a bidder with fewer assigned tasks; the others hear why; the assignment is gossiped', async () => {
      await boot({ bidWindowMs: 5 })
      // A and C each hold one of this origin's tasks already; B holds none
      await assigned(A)
      await assigned(C)
      const t = await submit()
      clock.advance(40)
      const m = mark()
      const inflated = { freeSlots: 10_000, cached: true, load: 0 }
      const [a, b, c] = await Promise.all([
        origin.claim(bid(t, inflated), A),
        origin.claim(bid(t, { cached: false, freeSlots: 0, load: 10 }), B),
        origin.claim(bid(t, inflated), C)
      ])
      expect(b).to.deep.equal({ won: true, input: t.spec.input, leaseUntil: clock.now + LEASE, deadline: t.deadline, skill: t.spec.skill, resources: t.spec.resources })
      expect(a).to.deep.equal({ won: false, reason: 'another executor won' })
      expect(c).to.deep.equal({ won: false, reason: 'another executor won' })

      const rec = (await disk.onDisk(t.id))!
      expect([rec.state, rec.executor, rec.leaseUntil]).to.deep.equal(['assigned', B, clock.now + LEASE])
      expect(rec.attemptsLog).to.deep.equal([{ attempt: 1, executor: B, assignedAt: clock.now }])
      expect(rec.history.slice(1)).to.deep.equal([
        { at: clock.now, state: 'bid', attempt: 1, executor: A },
        { at: clock.now, state: 'bid', attempt: 1, executor: B },
        { at: clock.now, state: 'bid', attempt: 1, executor: C },
        { at: clock.now, state: 'assigned', attempt: 1, executor: B }
      ])
      const audit = await m.audit()
      expect(audit.map(e => e.action)).to.deep.equal(['task.assigned'])
      expect(audit[0].details).to.include({ executor: B, bids: 3, leaseUntil: clock.now + LEASE })
      expect(m.published()).to.deep.equal([{ type: 'task-assign', valid: true, body: { taskId: t.id, idSeed: t.idSeed, attempt: 1, executor: B, leaseUntil: clock.now + LEASE } }])
      expect(m.events().map(e => [e.kind, e.from, e.to])).to.deep.equal([['assigned', 'offered', 'assigned']])

      // once B holds one too, all three hold one each: the hash decides, not the claims
      const t2 = await submit()
      const answers = await Promise.all([origin.claim(bid(t2, inflated), A), origin.claim(bid(t2), B), origin.claim(bid(t2, inflated), C)])
      const winner = [A, B, C][answers.findIndex(x => x.won)]
      expect(winner).to.equal(pickBid(t2.id, [{ from: A }, { from: B }, { from: C }]).from)
    })

    it('pickBid: fewest tasks held first, whatever the bids claim; a tie goes the same way whatever the order', () => {
      const b = (from: string, claim: Partial<TaskClaimBody> = {}): { from: string, claim: TaskClaimBody } => ({ from, claim: { taskId: 'x', attempt: 1, freeSlots: 1, cached: false, load: 0, ...claim } })
      const held = new Map([['a', 2], ['b', 1]])
      expect(pickBid('x', [b('a', { freeSlots: 10_000, cached: true }), b('b', { load: 10 })], held).from).to.equal('b')
      expect(pickBid('x', [b('a'), b('b'), b('c', { freeSlots: 0, load: 10 })], held).from).to.equal('c')
      // the claims alone change nothing: the same bidders with other claims, the same winner
      const plain = pickBid('x', [b('p'), b('q')]).from
      expect(pickBid('x', [b('p', { cached: plain !== 'p', freeSlots: plain !== 'p' ? 10_000 : 0 }), b('q', { cached: plain !== 'q', freeSlots: plain !== 'q' ? 10_000 : 0 })]).from).to.equal(plain)
      const tie = [b('p'), b('q'), b('r')]
      const first = pickBid('x', tie).from
      expect(pickBid('x', [...tie].reverse()).from).to.equal(first)
    })

    it('pickBid: the lowest executor tier the origin knows of comes first (a task starts at the bottom and climbs)', () => {
      const b = (from: string): { from: string } => ({ from })
      const tiers = new Map([['big', 1], ['small', 0]])
      const tierOf = (p: string): number | undefined => tiers.get(p)
      // whatever the hash says, and even holding more of the origin's tasks
      for (const id of ['x', 'y', 'z', 'w']) expect(pickBid(id, [b('big'), b('small')], new Map([['small', 3]]), tierOf).from).to.equal('small')
      // an executor whose tier is not known counts as tier 0
      expect(pickBid('x', [b('big'), b('unknown')], new Map(), tierOf).from).to.equal('unknown')
    })

    it('refuses a bid for an unknown task, for another attempt, for a task already assigned or finished, writing nothing', async () => {
      await boot()
      const t = await submit()
      let m = mark()
      const before = await disk.onDisk(t.id)
      expect(await origin.claim({ ...bid(t), taskId: 'bafyreinosuchtaskaaaaaaaaaaaaaaaa' }, A)).to.deep.equal({ won: false, reason: 'no such open task' })
      expect(await origin.claim(bid(t, { attempt: 2 }), A)).to.deep.equal({ won: false, reason: 'already assigned' })
      await expectNothingWritten(m, t.id, before)

      expect((await origin.claim(bid(t), A)).won).to.equal(true)
      m = mark()
      expect(await origin.claim(bid(t), B)).to.deep.equal({ won: false, reason: 'already assigned' })
      await expectNothingWritten(m)
      await origin.cancel(t.id)
      m = mark()
      expect(await origin.claim(bid(t), B)).to.deep.equal({ won: false, reason: 'no such open task' })
      await expectNothingWritten(m)
    })

    it('refuses the executor of a failed attempt while others can take the next one; another executor wins it', async () => {
      await boot()
      const t = await assigned(A, { attempts: 3 })
      await origin.result(failed(t), A)
      const next = (await origin.get(t.id))!
      expect([next.state, next.attempt, next.exclude]).to.deep.equal(['offered', 2, [A]])
      const m = mark()
      expect(await origin.claim(bid(next), A)).to.deep.equal({ won: false, reason: 'excluded: failed an earlier attempt' })
      await expectNothingWritten(m, t.id, await disk.onDisk(t.id))
      const won = await origin.claim(bid(next), B)
      expect(won.won).to.equal(true)
      expect((await origin.get(t.id))?.executor).to.equal(B)
    })

    it('lets the excluded executor bid again two bid windows and a second after the offer', async () => {
      await boot({ bidWindowMs: 5 })
      const t = await assigned(A, { attempts: 3 })
      await origin.result(failed(t), A)
      const next = (await origin.get(t.id))!
      clock.advance(2 * 5 + 1000 - 1)
      expect(await origin.claim(bid(next), A)).to.deep.equal({ won: false, reason: 'excluded: failed an earlier attempt' })
      clock.advance(1)
      expect((await origin.claim(bid(next), A)).won).to.equal(true)
      expect((await origin.get(t.id))?.attemptsLog.map(a => [a.attempt, a.executor])).to.deep.equal([[1, A], [2, A]])
    })

    it('while a bid window is open the tick does not re-offer; a cancel closes the window and its bidders hear why', async () => {
      await boot({ bidWindowMs: 60_000 })
      const t = await submit()
      const pending = origin.claim(bid(t), A)
      clock.advance(10 * REOFFER)
      const m = mark()
      await origin.tick()
      expect(m.events()).to.deep.equal([])
      await origin.cancel(t.id, SUBMITTER)
      expect(await pending).to.deep.equal({ won: false, reason: 'task cancelled' })
      expect(m.events().map(e => e.kind)).to.deep.equal(['finished'])
      expect(origin.auction.has(t.id)).to.equal(false)
    })
  })

  // --- leases --------------------------------------------------------------------------------------

  describe('leases', () => {
    beforeEach(async () => { await boot() })

    it('the holder renews: leaseUntil = now + leaseMs, written, no audit entry, nothing gossiped', async () => {
      const t = await assigned(A)
      clock.advance(4_000)
      const m = mark()
      expect(await origin.renew(t.id, 1, A)).to.deep.equal({ ok: true, leaseUntil: clock.now + LEASE })
      expect((await disk.onDisk(t.id))?.leaseUntil).to.equal(clock.now + LEASE)
      expect((await m.audit()).length).to.equal(0)
      expect(m.published()).to.deep.equal([])
      expect(m.events().map(e => [e.kind, e.actor])).to.deep.equal([['renewed', A]])
    })

    it('refuses another executor or another attempt ("lease lost") and a finished task, writing nothing', async () => {
      const t = await assigned(A)
      const before = await disk.onDisk(t.id)
      const m = mark()
      expect(await origin.renew(t.id, 1, B)).to.deep.equal({ ok: false, reason: 'lease lost' })
      expect(await origin.renew(t.id, 2, A)).to.deep.equal({ ok: false, reason: 'lease lost' })
      await expectNothingWritten(m, t.id, before)
      await origin.result(ok(t), A)
      const after = mark()
      expect(await origin.renew(t.id, 1, A)).to.deep.equal({ ok: false, reason: 'task is finished' })
      await expectNothingWritten(after)
    })

    it('a lease not renewed expires on the tick after leaseUntil: next attempt offered without the executor', async () => {
      const t = await assigned(A, { attempts: 3 })
      clock.now = t.leaseUntil!
      let m = mark()
      await origin.tick()
      expect(m.events(), 'at leaseUntil the lease still holds').to.deep.equal([])
      clock.advance(1)
      m = mark()
      await origin.tick()
      const rec = (await disk.onDisk(t.id))!
      expect([rec.state, rec.attempt, rec.executor, rec.leaseUntil, rec.exclude, rec.offeredAt]).to.deep.equal(['offered', 2, null, null, [A], clock.now])
      expect(rec.attemptsLog).to.deep.equal([{ attempt: 1, executor: A, assignedAt: T0, status: 'lease-expired', endedAt: clock.now }])
      expect(rec.history.slice(-2)).to.deep.equal([
        { at: clock.now, state: 'lease-expired', attempt: 1, executor: A },
        { at: clock.now, state: 'offered', attempt: 2, detail: 'lease of attempt 1 expired' }
      ])
      expect((await m.audit()).map(e => e.action)).to.deep.equal(['task.lease-lost', 'task.offered'])
      expect(m.published().map(p => [p.type, p.valid, p.body.attempt, p.body.exclude])).to.deep.equal([['task-offer', true, 2, [A]]])
      expect(await origin.renew(t.id, 1, A)).to.deep.equal({ ok: false, reason: 'lease lost' })
    })

    it('with its attempts spent, a lost lease fails the task', async () => {
      const t = await assigned(A, { attempts: 1 })
      clock.now = t.leaseUntil! + 1
      const m = mark()
      await origin.tick()
      const rec = (await disk.onDisk(t.id))!
      expect([rec.state, rec.completedAt, rec.leaseUntil]).to.deep.equal(['failed', clock.now, null])
      expect(rec.error).to.be.a('string')
      expect(store.open.has(t.id)).to.equal(false)
      expect((await m.audit()).map(e => e.action)).to.deep.equal(['task.lease-lost', 'task.finished'])
      expect(m.published()).to.deep.equal([{ type: 'task-done', valid: true, body: { taskId: t.id, idSeed: t.idSeed } }])
    })
  })

  // --- results -------------------------------------------------------------------------------------

  describe('results', () => {
    beforeEach(async () => { await boot() })

    it('a success from the holder completes the task; the end is gossiped', async () => {
      const t = await assigned(A)
      clock.advance(2_000)
      const m = mark()
      expect(await origin.result(ok(t), A)).to.deep.equal({ accepted: true })
      const rec = (await origin.get(t.id))!
      expect(await disk.onDisk(t.id)).to.deep.equal(rec)
      expect([rec.state, rec.executor, rec.output, rec.error, rec.completedAt, rec.leaseUntil]).to.deep.equal(['succeeded', A, { words: 3 }, null, clock.now, null])
      expect(rec.timings).to.deep.equal({ offerToAssignMs: 0, fetchMs: 20, sandboxMs: 300, resultMs: 2_000 - 20 - 300 })
      expect(rec.attemptsLog).to.deep.equal([{ attempt: 1, executor: A, assignedAt: T0, endedAt: clock.now, status: 'succeeded', timings: { fetchMs: 20, sandboxMs: 300 } }])
      const audit = await m.audit()
      expect(audit.map(e => [e.action, e.actor])).to.deep.equal([['task.result-accepted', A], ['task.finished', disk.signer.peerId]])
      expect(m.published()).to.deep.equal([{ type: 'task-done', valid: true, body: { taskId: t.id, idSeed: t.idSeed } }])
    })

    it('a second success is recorded as late and refused; the first result stands', async () => {
      const t = await assigned(A)
      await origin.result(ok(t), A)
      clock.advance(500)
      const m = mark()
      expect(await origin.result(ok(t, { words: 99 }), A)).to.deep.equal({ accepted: false, reason: 'duplicate: task already succeeded' })
      const rec = (await disk.onDisk(t.id))!
      expect([rec.state, rec.output]).to.deep.equal(['succeeded', { words: 3 }])
      expect(rec.history.at(-1)).to.deep.include({ at: clock.now, state: 'late-result', attempt: 1, executor: A })
      expect((await m.audit()).map(e => [e.action, e.actor])).to.deep.equal([['task.result-refused', A]])
      expect(m.events().map(e => [e.kind, e.from, e.to])).to.deep.equal([['late-result', 'succeeded', 'succeeded']])
      expect(m.published()).to.deep.equal([])
    })

    it('refuses a result from an executor that did not hold the attempt, and for an unknown task, writing nothing', async () => {
      const t = await assigned(A)
      const before = await disk.onDisk(t.id)
      const m = mark()
      expect(await origin.result(ok(t), B)).to.deep.equal({ accepted: false, reason: 'this executor did not hold that attempt' })
      expect(await origin.result(ok(t, null, 2), A)).to.deep.equal({ accepted: false, reason: 'this executor did not hold that attempt' })
      expect(await origin.result({ ...ok(t), taskId: 'bafyreinosuchtaskaaaaaaaaaaaaaaaa' }, A)).to.deep.equal({ accepted: false, reason: 'unknown task' })
      await expectNothingWritten(m, t.id, before)
    })

    it('a failed run goes to the next attempt without its executor; the same report again is refused', async () => {
      const t = await assigned(A, { attempts: 3 })
      clock.advance(1_000)
      const m = mark()
      expect(await origin.result(failed(t), A)).to.deep.equal({ accepted: true })
      const rec = (await disk.onDisk(t.id))!
      expect([rec.state, rec.attempt, rec.executor, rec.exclude, rec.offeredAt]).to.deep.equal(['offered', 2, null, [A], clock.now])
      expect(rec.attemptsLog[0]).to.deep.include({ status: 'failed', error: 'exit 1', endedAt: clock.now })
      expect((await m.audit()).map(e => e.action)).to.deep.equal(['task.result-accepted', 'task.offered'])
      expect(m.published().map(p => [p.type, p.valid, p.body.attempt, p.body.exclude])).to.deep.equal([['task-offer', true, 2, [A]]])

      const again = mark()
      expect(await origin.result(failed(t), A)).to.deep.equal({ accepted: false, reason: 'duplicate: this attempt already reported' })
      await expectNothingWritten(again, t.id, rec)
    })

    it('a failed run with the attempts spent fails the task', async () => {
      const t = await assigned(A, { attempts: 1 })
      const m = mark()
      expect(await origin.result(failed(t), A)).to.deep.equal({ accepted: true })
      const rec = (await disk.onDisk(t.id))!
      expect([rec.state, rec.completedAt]).to.deep.equal(['failed', clock.now])
      expect((await m.audit()).map(e => e.action)).to.deep.equal(['task.result-accepted', 'task.finished'])
      expect(m.published()).to.deep.equal([{ type: 'task-done', valid: true, body: { taskId: t.id, idSeed: t.idSeed } }])
    })

    // DESIGN.md step 5: "late duplicates are recorded and ignored" — also for an attempt whose
    // lease expired: its first report is taken, the same report again is not a second result.
    it('a failed run reported twice for an attempt whose lease expired is taken once', async () => {
      const t = await assigned(A, { attempts: 3 })
      clock.now = t.leaseUntil! + 1
      await origin.tick()
      expect(await origin.result(failed(t, 1), A)).to.deep.equal({ accepted: true })
      const rec = (await disk.onDisk(t.id))!
      expect([rec.state, rec.attempt]).to.deep.equal(['offered', 2])
      const again = mark()
      expect(await origin.result(failed(t, 1), A)).to.deep.equal({ accepted: false, reason: 'duplicate: this attempt already reported' })
      await expectNothingWritten(again, t.id, rec)
    })

    it('the first success is accepted even after its lease expired (attempt 2 on offer)', async () => {
      const t = await assigned(A, { attempts: 3 })
      clock.now = t.leaseUntil! + 1
      await origin.tick()
      expect((await origin.get(t.id))?.state).to.equal('offered')
      const m = mark()
      expect(await origin.result(ok(t, { words: 3 }, 1), A)).to.deep.equal({ accepted: true })
      const rec = (await disk.onDisk(t.id))!
      expect([rec.state, rec.executor, rec.output]).to.deep.equal(['succeeded', A, { words: 3 }])
      expect(rec.attemptsLog[0]).to.deep.include({ status: 'succeeded' })
      expect(m.events().map(e => [e.kind, e.from, e.to])).to.deep.equal([['result', 'offered', 'succeeded']])
      expect(m.published().map(p => [p.type, p.body.taskId])).to.deep.equal([['task-done', t.id]])
    })
  })

  // --- time: deadlines and re-offers -------------------------------------------------------------

  describe('deadlines and re-offers', () => {
    it('a task past its deadline fails on the tick, offered or assigned', async () => {
      await boot({ reofferMs: 3_600_000 })
      const offered = await submit({ timeoutS: 10 })
      const held = await assigned(A, { timeoutS: 10 })
      clock.now = T0 + 10_000
      let m = mark()
      await origin.tick()
      expect(m.events(), 'at the deadline itself nothing ends').to.deep.equal([])
      clock.advance(1)
      m = mark()
      await origin.tick()
      for (const t of [offered, held]) {
        const rec = (await disk.onDisk(t.id))!
        expect([rec.state, rec.completedAt]).to.deep.equal(['failed', clock.now])
        expect(rec.error).to.be.a('string')
      }
      const audit = await m.audit()
      expect(audit.map(e => [e.action, e.subject])).to.deep.equal([['task.finished', offered.id], ['task.finished', held.id]])
      expect(m.published().map(p => [p.type, p.valid, p.body.taskId])).to.deep.equal([['task-done', true, offered.id], ['task-done', true, held.id]])
      expect(m.events().map(e => [e.kind, e.details.reason])).to.deep.equal([['finished', 'deadline'], ['finished', 'deadline']])
      expect(await origin.result(ok(held), A)).to.deep.equal({ accepted: false, reason: 'duplicate: task already failed' })
    })

    // protocol/messages/task.ts, TaskOfferBody.deadline: "no result accepted after this". The
    // origin must not wait for its next tick to honour it.
    it('past its deadline, before any tick, a task takes no renewal and no result', async () => {
      await boot()
      const t = await assigned(A, { timeoutS: 10 })
      clock.now = t.deadline + 1
      const renewed = await origin.renew(t.id, 1, A)
      const answer = await origin.result(ok(t), A)
      const rec = (await disk.onDisk(t.id))!
      expect({ renewed: renewed.ok, accepted: answer.accepted, state: rec.state, output: rec.output }).to.deep.equal({ renewed: false, accepted: false, state: 'failed', output: null })
    })

    it('re-offers an unclaimed task after reofferMs, then only after 2 × reofferMs (exponential backoff)', async () => {
      await boot()
      const t = await submit()
      gossip.clear()
      const offers = (): number[] => gossip.published.filter(p => p.type === 'task-offer').map(p => p.body.attempt)

      clock.now = T0 + REOFFER
      await origin.tick()
      expect(offers(), 'not at reofferMs itself').to.deep.equal([])
      clock.advance(1)
      await origin.tick()
      expect(offers()).to.deep.equal([1])
      const first = clock.now
      let rec = (await disk.onDisk(t.id))!
      expect([rec.state, rec.reoffers, rec.lastOfferAt]).to.deep.equal(['offered', 1, first])
      expect(rec.history.at(-1)).to.deep.equal({ at: first, state: 're-offered', attempt: 1 })

      clock.now = first + REOFFER + 1
      await origin.tick()
      clock.now = first + 2 * REOFFER
      await origin.tick()
      expect(offers(), 'not before 2 × reofferMs').to.deep.equal([1])
      clock.advance(1)
      const m = mark()
      await origin.tick()
      expect(offers()).to.deep.equal([1, 1])
      rec = (await disk.onDisk(t.id))!
      expect([rec.reoffers, rec.lastOfferAt]).to.deep.equal([2, clock.now])
      const audit = await m.audit()
      expect(audit.map(e => [e.action, e.details.reoffer])).to.deep.equal([['task.offered', 2]])
      expect(gossip.published.every(p => p.valid)).to.equal(true)
    })
  })

  // --- cancel --------------------------------------------------------------------------------------

  describe('cancel', () => {
    beforeEach(async () => { await boot() })

    it('cancels an offered task; cancelling again changes nothing', async () => {
      const t = await submit()
      clock.advance(300)
      const m = mark()
      const rec = (await origin.cancel(t.id, SUBMITTER))!
      expect([rec.state, rec.completedAt]).to.deep.equal(['cancelled', clock.now])
      expect(await disk.onDisk(t.id)).to.deep.equal(rec)
      expect((await m.audit()).map(e => [e.action, e.actor])).to.deep.equal([['task.cancelled', SUBMITTER], ['task.finished', disk.signer.peerId]])
      expect(m.published()).to.deep.equal([{ type: 'task-done', valid: true, body: { taskId: t.id, idSeed: t.idSeed } }])

      clock.advance(300)
      const again = mark()
      expect(await origin.cancel(t.id, SUBMITTER)).to.deep.equal(rec)
      await expectNothingWritten(again, t.id, rec)
      expect(await origin.cancel('bafyreinosuchtaskaaaaaaaaaaaaaaaa')).to.equal(undefined)
    })

    it('cancels an assigned task: the holder loses its lease, its result is late', async () => {
      const t = await assigned(A)
      const rec = (await origin.cancel(t.id, SUBMITTER))!
      expect(rec.state).to.equal('cancelled')
      expect(await origin.renew(t.id, 1, A)).to.deep.equal({ ok: false, reason: 'task is finished' })
      const m = mark()
      expect(await origin.result(ok(t), A)).to.deep.equal({ accepted: false, reason: 'duplicate: task already cancelled' })
      expect((await m.audit()).map(e => e.action)).to.deep.equal(['task.result-refused'])
      expect((await disk.onDisk(t.id))?.output).to.equal(null)
    })
  })

  // --- restart ---------------------------------------------------------------------------------------

  describe('restart', () => {
    it('a new origin on the same data dir resumes open tasks: offers again at once, gives holders a lease to come back', async () => {
      await boot()
      const offered = await submit()
      const held = await assigned(A)
      const done = await assigned(B)
      await origin.result(ok(done), B)
      clock.advance(2_000)
      const headBefore = disk.audit.headSeq

      origin.stop()
      await disk.close()
      clock.advance(3_000)
      await disk.reopen()
      await boot()

      expect([...store.open.keys()].sort()).to.deep.equal([offered.id, held.id].sort())
      const h = (await origin.get(held.id))!
      expect([h.state, h.executor, h.leaseUntil]).to.deep.equal(['assigned', A, clock.now + LEASE])
      expect((await origin.get(done.id))?.state).to.equal('succeeded')

      await origin.tick()
      expect(gossip.published.map(p => [p.type, p.body.taskId])).to.deep.equal([['task-offer', offered.id]])
      expect(events.map(e => [e.kind, e.task.id])).to.deep.equal([['re-offered', offered.id]])

      // the holder goes on where it was
      expect(await origin.renew(held.id, 1, A)).to.deep.equal({ ok: true, leaseUntil: clock.now + LEASE })
      expect(await origin.result(ok(held), A)).to.deep.equal({ accepted: true })
      expect((await disk.onDisk(held.id))?.state).to.equal('succeeded')

      const entries = await disk.entries()
      expect(entries[headBefore].seq, 'the audit chain goes on after the restart').to.equal(headBefore + 1)
      expect(await disk.verifyChain()).to.deep.include({ ok: true, entries: entries.length })
    })

    it('a lease that ran out while the node was down is not counted against the holder before a lease\'s time', async () => {
      await boot()
      const held = await assigned(A, { attempts: 1 })
      origin.stop()
      await disk.close()
      clock.advance(LEASE * 5)
      await disk.reopen()
      await boot()
      await origin.tick()
      expect((await origin.get(held.id))?.state).to.equal('assigned')
      clock.advance(LEASE + 1)
      await origin.tick()
      expect((await origin.get(held.id))?.state).to.equal('failed')
    })
  })
})

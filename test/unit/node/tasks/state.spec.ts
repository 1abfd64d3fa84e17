import { expect } from 'chai'
import {
  TaskStateErrorCode, TaskStateMachine, TaskStore, type TaskChange, type TaskEvent, type TaskEventKind, type TaskRecord, type TaskState
} from '../../../../node/tasks/index.js'
import { Bucket } from '../../../../node/store/index.js'
import { refusal } from '../../../utils/refusal.js'
import { AuditTap, Clock, Disk, skillRelease } from '../../../utils/task-rig.js'

/**
 * The task state machine alone (DESIGN.md "Task lifecycle"), on a real LevelDB and a real
 * audit log, with a manual clock: every transition of its table writes the record, its history
 * (at the clock's time) and its audit entries in one batch — synced exactly for acceptance and
 * terminal states — and then emits one event; every other (from, event, to) is refused with
 * its code and leaves disk, cache and audit log as they were.
 */
const SUBMITTER = 'submitter-peer'
const EXEC_A = 'executor-a'
const EXEC_B = 'executor-b'
const REVIEWER = 'user:ada'
const LEASE = 10_000
const STATES: TaskState[] = ['offered', 'assigned', 'needs-review', 'succeeded', 'resolved', 'failed', 'cancelled']
const TERMINAL = new Set<TaskState>(['succeeded', 'resolved', 'failed', 'cancelled'])
const OPEN = new Set<TaskState>(['offered', 'assigned', 'needs-review'])
const EVENTS: TaskEventKind[] = ['accepted', 're-offered', 'assigned', 'renewed', 'lease-expired', 'result', 'finished', 'review-claimed', 'review-released', 'resolved', 'review-rejected', 'late-result']
/** Audit actions attributed to whoever caused the change; the others are the node's own. */
const BY_ACTOR = new Set(['task.accepted', 'task.result-accepted', 'task.cancelled', 'task.result-refused', 'review.claimed', 'review.released', 'review.resolved', 'review.rejected'])

/** The lifecycle as the issue states it, written out here (not read from the source). */
function allowed (from: TaskState, event: TaskEventKind, to: TaskState): boolean {
  switch (event) {
    case 'accepted': return false // only a new task (`create`)
    case 're-offered': return from === 'offered' && to === 'offered'
    case 'assigned': return from === 'offered' && to === 'assigned'
    case 'renewed': return from === 'assigned' && to === 'assigned'
    // a lost lease: the next attempt or tier, the review queue, or the end
    case 'lease-expired': return from === 'assigned' && (to === 'offered' || to === 'needs-review' || to === 'failed')
    case 'result': return OPEN.has(from) && (OPEN.has(to) || to === 'succeeded' || to === 'failed')
    // cancelled, or the deadline passed (then like a failed attempt: next tier, review, or failed)
    case 'finished': return OPEN.has(from) && (to === 'offered' || to === 'needs-review' || to === 'failed' || to === 'cancelled')
    case 'review-claimed': case 'review-released': return from === 'needs-review' && to === 'needs-review'
    case 'resolved': return from === 'needs-review' && to === 'resolved'
    case 'review-rejected': return from === 'needs-review' && to === 'failed'
    case 'late-result': return TERMINAL.has(from) && to === from
  }
}

let seq = 0
function sampleTask (now: number): TaskRecord {
  seq++
  return {
    id: `bafyreitask${String(seq).padStart(4, '0')}${'a'.repeat(20)}`,
    idSeed: '0'.repeat(64),
    spec: {
      skill: { name: skillRelease.name, version: skillRelease.version, cid: skillRelease.cid, author: skillRelease.author },
      input: { text: 'one two three' },
      timeoutS: 300,
      attempts: 3,
      submitter: SUBMITTER,
      submittedAt: now,
      resources: { memoryMB: 128, cpus: 1, pids: 64, timeoutS: 30 }
    },
    state: 'offered',
    attempt: 1,
    executor: null,
    leaseUntil: null,
    exclude: [],
    deadline: now + 300_000,
    offeredAt: now,
    lastOfferAt: now,
    reoffers: 0,
    output: null,
    error: null,
    attemptsLog: [],
    history: [],
    completedAt: null,
    timings: null
  }
}

describe('node/tasks: TaskStateMachine', function () {
  let clock: Clock
  let disk: Disk
  let tap: AuditTap
  let store: TaskStore
  let machine: TaskStateMachine
  let events: TaskEvent[]
  let self: string

  beforeEach(async () => {
    clock = new Clock()
    disk = await Disk.open(clock, 'aas-state-')
    tap = new AuditTap(disk.audit)
    store = new TaskStore(disk.store.sublevel(Bucket.tasks))
    self = disk.signer.peerId
    machine = new TaskStateMachine({ self, store, audit: tap, now: clock.fn })
    events = []
    machine.on((e) => { events.push(e) })
  })

  afterEach(async () => { await disk.destroy() })

  // --- the changes the tests make, as the origin's parts make them ---------------------------

  const assign = (exec = EXEC_A): TaskChange => ({
    event: 'assigned',
    to: 'assigned',
    edit: (x) => { x.executor = exec; x.leaseUntil = clock.now + LEASE; x.attemptsLog.push({ attempt: x.attempt, executor: exec, assignedAt: clock.now }) },
    history: [{ state: 'bid', attempt: 1, executor: exec }, { state: 'assigned', attempt: 1, executor: exec }],
    details: { bids: 1 }
  })
  const reoffer = (): TaskChange => ({
    event: 're-offered', to: 'offered', edit: (x) => { x.reoffers++; x.lastOfferAt = clock.now }, history: [{ state: 're-offered', attempt: 1 }]
  })
  const renew = (): TaskChange => ({ event: 'renewed', to: 'assigned', actor: EXEC_A, edit: (x) => { x.leaseUntil = clock.now + LEASE } })
  const ending = (error: string | null, output: unknown = null): TaskChange['edit'] =>
    (x) => { x.output = output; x.error = error; x.leaseUntil = null; x.completedAt = clock.now }
  const leaseExpired = (to: 'offered' | 'failed'): TaskChange => ({
    event: 'lease-expired',
    to,
    edit: (x) => {
      x.attemptsLog[0].status = 'lease-expired'
      x.attemptsLog[0].endedAt = clock.now
      if (to === 'offered') {
        x.exclude.push(EXEC_A); x.attempt = 2; x.executor = null; x.leaseUntil = null; x.offeredAt = clock.now; x.lastOfferAt = clock.now; x.reoffers = 0
      } else {
        ending('attempts spent')!(x)
      }
    },
    history: [{ state: 'lease-expired', attempt: 1, executor: EXEC_A }, to === 'offered' ? { state: 'offered', attempt: 2 } : { state: 'failed', attempt: 1, detail: 'attempts spent' }],
    details: { executor: EXEC_A }
  })
  const result = (to: TaskState, status = to === 'succeeded' ? 'succeeded' : 'failed', from = EXEC_A): TaskChange => ({
    event: 'result',
    to,
    actor: from,
    edit: (x) => {
      const h = x.attemptsLog.find(a => a.executor === from)
      if (h != null) { h.status = status as any; h.endedAt = clock.now }
      if (to === 'succeeded') ending(null, { words: 3 })!(x)
      if (to === 'failed') ending('attempts spent')!(x)
      if (to === 'offered' && x.state === 'assigned') { x.attempt++; x.executor = null; x.leaseUntil = null; x.exclude.push(from) }
    },
    history: [{ state: 'result', attempt: 1, executor: from, detail: status }],
    details: { executor: from, status, sandboxMs: 12, fetchMs: 3, attempt: 1 }
  })
  const finished = (to: 'failed' | 'cancelled', actor?: string): TaskChange => ({
    event: 'finished',
    to,
    ...(actor != null ? { actor } : {}),
    edit: ending(to === 'cancelled' ? 'cancelled by the submitter' : 'deadline passed'),
    history: [{ state: to, attempt: 1 }],
    ...(to === 'failed' ? { details: { reason: 'deadline' } } : {})
  })
  const late = (state: TaskState): TaskChange => ({
    event: 'late-result', to: state, actor: EXEC_B, history: [{ state: 'late-result', attempt: 1, executor: EXEC_B, detail: `succeeded; task already ${state}` }], details: { executor: EXEC_B, status: 'succeeded', attempt: 1 }
  })

  const toReview = (): TaskChange => ({
    event: 'lease-expired',
    to: 'needs-review',
    edit: (x) => { x.leaseUntil = null; x.review = { cause: 'attempts-spent', reason: 'attempts spent', since: clock.now, holder: null, holdUntil: null } },
    history: [{ state: 'lease-expired', attempt: 1, executor: EXEC_A }, { state: 'needs-review', attempt: 1, detail: 'attempts spent' }]
  })
  const resolve = (): TaskChange => ({
    event: 'resolved',
    to: 'resolved',
    actor: REVIEWER,
    edit: (x) => { x.output = { words: 3 }; x.completedAt = clock.now; Object.assign(x.review!, { resolvedBy: REVIEWER, annotation: 'counted by hand' }) },
    history: [{ state: 'resolved', attempt: 1, detail: REVIEWER }]
  })

  /** A task on disk in `state`, reached through the machine (what a test starts from). */
  async function taskIn (state: TaskState | 'assigned-from-b'): Promise<TaskRecord> {
    const t = await machine.create(sampleTask(clock.now), { actor: SUBMITTER, history: [{ state: 'offered', attempt: 1 }] })
    clock.advance(100)
    switch (state) {
      case 'offered': return t
      case 'assigned': return await machine.apply(t, assign())
      case 'assigned-from-b': return await machine.apply(t, assign(EXEC_B))
      case 'succeeded': return await machine.apply(await machine.apply(t, assign()), result('succeeded'))
      case 'failed': return await machine.apply(t, finished('failed'))
      case 'cancelled': return await machine.apply(t, finished('cancelled', SUBMITTER))
      case 'needs-review': return await machine.apply(await machine.apply(t, assign()), toReview())
      case 'resolved': return await machine.apply(await machine.apply(await machine.apply(t, assign()), toReview()), resolve())
    }
  }

  /** What a refused or failed change must leave as it was. */
  async function snapshot (id: string): Promise<{ disk: TaskRecord | undefined, cached: TaskRecord | undefined, cachedCopy: TaskRecord | undefined, head: number, entries: number, writes: number, events: number }> {
    const cached = store.open.get(id)
    return { disk: await disk.onDisk(id), cached, cachedCopy: structuredClone(cached), head: disk.audit.headSeq, entries: (await disk.entries()).length, writes: tap.calls.length, events: events.length }
  }

  async function expectUnchanged (id: string, before: Awaited<ReturnType<typeof snapshot>>): Promise<void> {
    expect(await disk.onDisk(id), 'record on disk').to.deep.equal(before.disk)
    expect(store.open.get(id), 'cached record').to.equal(before.cached)
    expect(store.open.get(id), 'cached record contents').to.deep.equal(before.cachedCopy)
    expect(disk.audit.headSeq, 'audit head').to.equal(before.head)
    expect((await disk.entries()).length, 'audit entries').to.equal(before.entries)
    expect(tap.calls.length, 'batches written').to.equal(before.writes)
    expect(events.length, 'events').to.equal(before.events)
  }

  // --- every allowed transition --------------------------------------------------------------

  describe('allowed transitions', () => {
    it('accepted (new → offered): record, history, [task.accepted, task.offered], synced, one event after the write', async () => {
      const t = sampleTask(clock.now)
      const input = structuredClone(t)
      let inListener: { head: number, read: Promise<TaskRecord | undefined> } | undefined
      machine.on((e) => { inListener = { head: disk.audit.headSeq, read: disk.onDisk(e.task.id) } })
      clock.advance(7)
      const rec = await machine.create(t, { actor: SUBMITTER, history: [{ state: 'offered', attempt: 1 }] })

      expect(t, 'the given record is not modified').to.deep.equal(input)
      expect(rec.state).to.equal('offered')
      expect(rec.history).to.deep.equal([{ at: clock.now, state: 'offered', attempt: 1 }])
      expect(await disk.onDisk(t.id)).to.deep.equal(rec)
      expect(store.has(t.id)).to.equal(true)
      const entries = await disk.entries()
      expect(entries.map(e => [e.action, e.subject, e.actor, e.ts])).to.deep.equal([
        ['task.accepted', t.id, SUBMITTER, clock.now],
        ['task.offered', t.id, self, clock.now]
      ])
      expect(entries[0].details).to.include({ submitter: SUBMITTER, attempts: 3, timeoutS: 300 })
      expect(tap.calls).to.deep.equal([{ actions: ['task.accepted', 'task.offered'], sync: true }])
      expect(events.map(e => [e.kind, e.from, e.to, e.at, e.actor])).to.deep.equal([['accepted', null, 'offered', clock.now, SUBMITTER]])
      expect(inListener?.head, 'entries on disk when the event is emitted').to.equal(2)
      expect(await inListener?.read, 'the listener reads the record from disk').to.deep.equal(rec)
      expect((await disk.verifyChain()).ok).to.equal(true)
    })

    interface Case {
      title: string
      from: Parameters<typeof taskIn>[0]
      change: () => TaskChange
      audit: string[]
      sync: boolean
      check?: (rec: TaskRecord) => void
    }
    const cases: Case[] = [
      { title: 're-offered (offered → offered)', from: 'offered', change: reoffer, audit: ['task.offered'], sync: false, check: (r) => { expect([r.reoffers, r.lastOfferAt]).to.deep.equal([1, clock.now]) } },
      { title: 'assigned (offered → assigned)', from: 'offered', change: () => assign(), audit: ['task.assigned'], sync: false, check: (r) => { expect([r.executor, r.leaseUntil, r.attemptsLog]).to.deep.equal([EXEC_A, clock.now + LEASE, [{ attempt: 1, executor: EXEC_A, assignedAt: clock.now }]]) } },
      { title: 'renewed (assigned → assigned)', from: 'assigned', change: renew, audit: [], sync: false, check: (r) => { expect(r.leaseUntil).to.equal(clock.now + LEASE) } },
      { title: 'lease-expired (assigned → offered)', from: 'assigned', change: () => leaseExpired('offered'), audit: ['task.lease-lost', 'task.offered'], sync: false, check: (r) => { expect([r.attempt, r.exclude, r.executor, r.attemptsLog[0].status]).to.deep.equal([2, [EXEC_A], null, 'lease-expired']) } },
      { title: 'lease-expired (assigned → failed)', from: 'assigned', change: () => leaseExpired('failed'), audit: ['task.lease-lost', 'task.finished'], sync: true, check: (r) => { expect([r.completedAt, r.error]).to.deep.equal([clock.now, 'attempts spent']) } },
      { title: 'result (assigned → succeeded)', from: 'assigned', change: () => result('succeeded'), audit: ['task.result-accepted', 'task.finished'], sync: true, check: (r) => { expect([r.output, r.completedAt]).to.deep.equal([{ words: 3 }, clock.now]) } },
      { title: 'result (assigned → failed)', from: 'assigned', change: () => result('failed'), audit: ['task.result-accepted', 'task.finished'], sync: true },
      { title: 'result (assigned → offered: next attempt)', from: 'assigned', change: () => result('offered'), audit: ['task.result-accepted', 'task.offered'], sync: false, check: (r) => { expect([r.attempt, r.exclude]).to.deep.equal([2, [EXEC_A]]) } },
      { title: 'result (assigned → assigned: an earlier attempt reports)', from: 'assigned-from-b', change: () => result('assigned', 'failed', EXEC_A), audit: ['task.result-accepted'], sync: false, check: (r) => { expect(r.executor).to.equal(EXEC_B) } },
      { title: 'result (offered → offered: a lost attempt reports a failure)', from: 'offered', change: () => result('offered'), audit: ['task.result-accepted'], sync: false },
      { title: 'result (offered → succeeded: a lost attempt succeeds)', from: 'offered', change: () => result('succeeded'), audit: ['task.result-accepted', 'task.finished'], sync: true },
      { title: 'finished (offered → failed: deadline)', from: 'offered', change: () => finished('failed'), audit: ['task.finished'], sync: true },
      { title: 'finished (assigned → failed: deadline)', from: 'assigned', change: () => finished('failed'), audit: ['task.finished'], sync: true },
      { title: 'finished (offered → cancelled)', from: 'offered', change: () => finished('cancelled', SUBMITTER), audit: ['task.cancelled', 'task.finished'], sync: true },
      { title: 'finished (assigned → cancelled)', from: 'assigned', change: () => finished('cancelled', SUBMITTER), audit: ['task.cancelled', 'task.finished'], sync: true },
      { title: 'lease-expired (assigned → needs-review)', from: 'assigned', change: toReview, audit: ['task.lease-lost', 'task.escalated'], sync: false, check: (r) => { expect(r.review).to.deep.include({ cause: 'attempts-spent', holder: null }) } },
      { title: 'review-claimed (needs-review → needs-review)', from: 'needs-review', change: () => ({ event: 'review-claimed', to: 'needs-review', actor: REVIEWER, edit: (x) => { x.review!.holder = REVIEWER; x.review!.holdUntil = clock.now + 60_000 } }), audit: ['review.claimed'], sync: false, check: (r) => { expect(r.review?.holder).to.equal(REVIEWER) } },
      { title: 'review-released (needs-review → needs-review)', from: 'needs-review', change: () => ({ event: 'review-released', to: 'needs-review', actor: REVIEWER, edit: (x) => { x.review!.holder = null } }), audit: ['review.released'], sync: false },
      { title: 'resolved (needs-review → resolved)', from: 'needs-review', change: resolve, audit: ['review.resolved', 'task.finished'], sync: true, check: (r) => { expect([r.output, r.review?.resolvedBy]).to.deep.equal([{ words: 3 }, REVIEWER]) } },
      { title: 'review-rejected (needs-review → failed)', from: 'needs-review', change: () => ({ event: 'review-rejected', to: 'failed', actor: REVIEWER, edit: ending('rejected') }), audit: ['review.rejected', 'task.finished'], sync: true },
      { title: 'finished (needs-review → cancelled)', from: 'needs-review', change: () => finished('cancelled', SUBMITTER), audit: ['task.cancelled', 'task.finished'], sync: true },
      ...(['succeeded', 'resolved', 'failed', 'cancelled'] as const).map((s): Case => ({
        title: `late-result (${s} → ${s})`, from: s, change: () => late(s), audit: ['task.result-refused'], sync: true, check: (r) => { expect(r.completedAt).to.not.equal(clock.now) }
      }))
    ]

    for (const c of cases) {
      it(`${c.title}: record, history, ${c.audit.length === 0 ? 'no audit entry' : `[${c.audit.join(', ')}]`}, ${c.sync ? 'synced' : 'not synced'}, one event after the write`, async () => {
        const t = await taskIn(c.from)
        const given = structuredClone(t)
        const head = disk.audit.headSeq
        const writes = tap.calls.length
        const eventsBefore = events.length
        clock.advance(1_234)
        const change = c.change()
        let inListener: { head: number, read: Promise<TaskRecord | undefined> } | undefined
        machine.on((e) => { inListener = { head: disk.audit.headSeq, read: disk.onDisk(e.task.id) } })

        const rec = await machine.apply(t, change)

        expect(t, 'the given record is not modified').to.deep.equal(given)
        expect(rec.state).to.equal(change.to)
        expect(rec.history.slice(0, given.history.length)).to.deep.equal(given.history)
        expect(rec.history.slice(given.history.length), 'history at the injected time').to.deep.equal((change.history ?? []).map(h => ({ at: clock.now, ...h })))
        c.check?.(rec)
        expect(await disk.onDisk(t.id), 'record on disk').to.deep.equal(rec)
        expect(store.open.get(t.id), 'cache').to.equal(TERMINAL.has(change.to) ? undefined : rec)

        const fresh = (await disk.entries()).slice(head)
        expect(fresh.map(e => e.action), 'audit entries in order').to.deep.equal(c.audit)
        for (const e of fresh) {
          expect([e.subject, e.ts, e.actor]).to.deep.equal([t.id, clock.now, BY_ACTOR.has(e.action) ? change.actor ?? self : self])
          if (e.action === 'task.finished') expect(e.details).to.include({ state: change.to })
        }
        expect(tap.calls.slice(writes), 'one batch, synced as expected').to.deep.equal([{ actions: c.audit, sync: c.sync }])

        const emitted = events.slice(eventsBefore)
        expect(emitted.map(e => [e.kind, e.from, e.to, e.at, e.actor]), 'exactly one event').to.deep.equal([[change.event, given.state, change.to, clock.now, change.actor ?? self]])
        expect(emitted[0].details).to.deep.equal(change.details ?? {})
        expect(emitted[0].task).to.deep.equal(rec)
        expect(inListener?.head, 'entries on disk when the event is emitted').to.equal(head + c.audit.length)
        expect(await inListener?.read, 'the listener reads the written record').to.deep.equal(rec)
        expect((await disk.verifyChain()).ok).to.equal(true)
      })
    }

    it('a listener that throws does not undo the change nor silence the others', async () => {
      const t = await taskIn('offered')
      machine.on(() => { throw new Error('listener bug') })
      const after: string[] = []
      machine.on((e) => { after.push(e.kind) })
      const rec = await machine.apply(t, assign())
      expect(rec.state).to.equal('assigned')
      expect(after).to.deep.equal(['assigned'])
      expect((await disk.onDisk(t.id))?.state).to.equal('assigned')
    })

    it('unsubscribing stops the events', async () => {
      const t = await taskIn('offered')
      const heard: string[] = []
      const off = machine.on((e) => { heard.push(e.kind) })
      off()
      await machine.apply(t, assign())
      expect(heard).to.deep.equal([])
    })
  })

  // --- every refusal --------------------------------------------------------------------------

  describe('refusals', () => {
    it('create of a task that is already open → ERR_TASK_EXISTS, nothing written', async () => {
      const t = await taskIn('assigned')
      const before = await snapshot(t.id)
      const err = await refusal(machine.create({ ...sampleTask(clock.now), id: t.id }, { actor: SUBMITTER, history: [{ state: 'offered', attempt: 1 }] }))
      expect([err.name, err.code, err.task, err.from, err.event]).to.deep.equal(['TaskStateError', TaskStateErrorCode.EXISTS, t.id, null, 'accepted'])
      await expectUnchanged(t.id, before)
    })

    // The machine must check a change against the task's current state, not against whatever
    // copy the caller holds: an old copy would assign one attempt twice, or undo an end.
    it('a change made on an old copy of an open task is checked against the current state (no second assignment)', async () => {
      const old = await taskIn('offered')
      await machine.apply(old, assign(EXEC_A))
      const before = await snapshot(old.id)
      const err = await refusal(machine.apply(old, assign(EXEC_B)))
      expect([err.name, err.code, err.from, err.event]).to.deep.equal(['TaskStateError', TaskStateErrorCode.BAD_TRANSITION, 'assigned', 'assigned'])
      await expectUnchanged(old.id, before)
      expect((await disk.onDisk(old.id))?.executor).to.equal(EXEC_A)
    })

    it('a change made on an old copy of a task that has ended is refused with ERR_TASK_TERMINAL (an end is not undone)', async () => {
      const old = await taskIn('assigned')
      await machine.apply(old, result('succeeded'))
      const before = await snapshot(old.id)
      const err = await refusal(machine.apply(old, finished('cancelled', SUBMITTER)))
      expect([err.name, err.code, err.event]).to.deep.equal(['TaskStateError', TaskStateErrorCode.TERMINAL, 'finished'])
      await expectUnchanged(old.id, before)
      expect((await disk.onDisk(old.id))?.state).to.equal('succeeded')
    })

    for (const from of STATES) {
      for (const event of EVENTS) {
        const refused = STATES.filter(to => !allowed(from, event, to))
        const code = TERMINAL.has(from) && event !== 'late-result' ? TaskStateErrorCode.TERMINAL : TaskStateErrorCode.BAD_TRANSITION
        it(`${from}: ${event} → {${refused.join(', ')}} refused with ${code}; record, cache, audit unchanged; no event`, async () => {
          const t = await taskIn(from)
          const before = await snapshot(t.id)
          clock.advance(500)
          for (const to of refused) {
            const change: TaskChange = {
              event,
              to,
              actor: EXEC_B,
              edit: (x) => { x.error = 'must not be written'; x.executor = EXEC_B },
              history: [{ state: 'result', attempt: 1, executor: EXEC_B }],
              details: { probe: true }
            }
            const err = await refusal(machine.apply(t, change))
            expect([err.name, err.code, err.task, err.from, err.event], `${from} ${event} → ${to}`).to.deep.equal(['TaskStateError', code, t.id, from, event])
          }
          await expectUnchanged(t.id, before)
          expect(t.state).to.equal(from)
        })
      }
    }
  })

  // --- failed writes ---------------------------------------------------------------------------

  describe('a failed write', () => {
    it('when the audit writer throws: the error reaches the caller, no event, cache and disk unchanged; the next change goes through', async () => {
      const t = await taskIn('offered')
      const before = await snapshot(t.id)
      const boom = new Error('disk full')
      tap.failNext = boom
      const err = await refusal(machine.apply(t, assign()))
      expect(err).to.equal(boom)
      await expectUnchanged(t.id, before)

      const rec = await machine.apply(t, assign())
      expect(rec.state).to.equal('assigned')
      expect(events.at(-1)?.kind).to.equal('assigned')
    })

    it('when the database itself fails: AuditError ERR_AUDIT_WRITE_FAILED, no event, cache unchanged', async () => {
      const t = await taskIn('assigned')
      const cached = store.open.get(t.id)
      const copy = structuredClone(cached)
      const n = events.length
      await disk.store.close()
      const err = await refusal(machine.apply(t, result('succeeded')))
      expect([err.name, err.code]).to.deep.equal(['AuditError', 'ERR_AUDIT_WRITE_FAILED'])
      expect(events.length).to.equal(n)
      expect(store.open.get(t.id)).to.equal(cached)
      expect(store.open.get(t.id)).to.deep.equal(copy)
      // the record as last written is still what the disk holds
      await disk.reopen()
      expect((await disk.onDisk(t.id))?.state).to.equal('assigned')
      expect((await disk.verifyChain()).ok).to.equal(true)
    })
  })
})

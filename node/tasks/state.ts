import type { AuditRecord } from '../audit/index.js'
import type { StoreOp, WriteOptions } from '../store/index.js'
import { TaskStateError, TaskStateErrorCode } from './errors.js'
import type { TaskStore } from './store.js'
import { isTerminal, tierOf, type HistoryEntry, type TaskRecord, type TaskState } from './types.js'

/**
 * The one place a task's state changes (DESIGN.md "Task lifecycle"). `apply` checks that the
 * change leads out of the task's current state, makes it on a copy, writes the record, its
 * history entries and its audit entries in one LevelDB batch (synced for acceptance and for
 * terminal states, which a crash must not lose), and only then emits one typed event. Gauges,
 * watchers, the MemoryEngine, gossip of the local executor: all subscribe; nothing else writes
 * task state.
 */
export type TaskEventKind =
  | 'accepted' // stored as submitted, and offered
  | 're-offered' // its offer gossiped again (nobody claimed it)
  | 'assigned' // an executor won the bids and holds a lease
  | 'renewed' // the holder renewed its lease
  | 'lease-expired' // the holder went silent: next attempt, next tier, review, or the end
  | 'result' // a result was accepted: done, next attempt or tier, review, or recorded beside the current one
  | 'finished' // from outside a run: cancelled, or the deadline passed (then as a failed attempt)
  | 'review-claimed' // a reviewer holds it for a while
  | 'review-released' // the hold ended (given back, or expired)
  | 'resolved' // a reviewer answered it
  | 'review-rejected' // a reviewer ended it failed
  | 'late-result' // a result for a task that had already ended: recorded, nothing else

const OPEN: TaskState[] = ['offered', 'assigned', 'needs-review']
const ENDED: TaskState[] = ['succeeded', 'resolved', 'failed', 'cancelled']

/** Where each kind of change may start, and where it may lead. `null`: the task is new. */
const TRANSITIONS: Record<TaskEventKind, { from: Array<TaskState | null>, to: TaskState[] }> = {
  // offered, or answered at once from memory (the SelfImprover's answer reuse)
  accepted: { from: [null], to: ['offered', 'succeeded'] },
  're-offered': { from: ['offered'], to: ['offered'] },
  assigned: { from: ['offered'], to: ['assigned'] },
  renewed: { from: ['assigned'], to: ['assigned'] },
  'lease-expired': { from: ['assigned'], to: ['offered', 'needs-review', 'failed'] },
  result: { from: OPEN, to: ['offered', 'assigned', 'needs-review', 'succeeded', 'failed'] },
  finished: { from: OPEN, to: ['offered', 'needs-review', 'failed', 'cancelled'] },
  'review-claimed': { from: ['needs-review'], to: ['needs-review'] },
  'review-released': { from: ['needs-review'], to: ['needs-review'] },
  resolved: { from: ['needs-review'], to: ['resolved'] },
  'review-rejected': { from: ['needs-review'], to: ['failed'] },
  'late-result': { from: ENDED, to: ENDED }
}

export interface TaskChange {
  event: TaskEventKind
  to: TaskState
  /** Who caused it (submitter, executor, canceller); the audit entry's actor. Default: this node. */
  actor?: string
  /** Edits of the record besides state and history, made on the copy that is written. */
  edit?: (t: TaskRecord) => void
  /** History entries, in order (their time is the machine's clock). */
  history?: Array<Omit<HistoryEntry, 'at'>>
  /** What the audit entries of this change say besides the task and attempt. */
  details?: Record<string, unknown>
}

export interface TaskEvent {
  kind: TaskEventKind
  /** The record as written (treat as read-only). */
  task: TaskRecord
  from: TaskState | null
  to: TaskState
  at: number
  actor: string
  details: Record<string, unknown>
}

export type TaskEventListener = (e: TaskEvent) => void

export interface TaskStateMachineComponents {
  self: string
  store: Pick<TaskStore, 'putOp' | 'cache' | 'has' | 'current'>
  audit: { write: (records: AuditRecord[], ops: StoreOp[], options: WriteOptions) => Promise<unknown> }
  now: () => number
}

export class TaskStateMachine {
  private readonly listeners = new Set<TaskEventListener>()

  constructor (private readonly c: TaskStateMachineComponents) {}

  get now (): number { return this.c.now() }

  /** Subscribes to every change; returns the unsubscribe. */
  on (fn: TaskEventListener): () => void {
    this.listeners.add(fn)
    return () => { this.listeners.delete(fn) }
  }

  /** Stores a new task, offered unless `to` says otherwise (its first history entries come from `change.history`). */
  async create (t: TaskRecord, change: Omit<TaskChange, 'event' | 'to'> & { to?: TaskState }): Promise<TaskRecord> {
    if (this.c.store.has(t.id)) throw new TaskStateError(`task ${t.id} exists already`, TaskStateErrorCode.EXISTS, t.id, null, 'accepted')
    return await this.write(null, t, { ...change, event: 'accepted', to: change.to ?? 'offered' })
  }

  /**
   * Applies one change to an existing task; the given record is not modified. It must be the
   * current record: a change made on an old copy is refused, so no decision is taken twice.
   */
  async apply (t: TaskRecord, change: TaskChange): Promise<TaskRecord> {
    const current = this.c.store.current(t.id)
    if (current == null && !isTerminal(t.state)) {
      throw new TaskStateError(`task ${t.id} is no longer open: it cannot be ${change.event}`, TaskStateErrorCode.TERMINAL, t.id, t.state, change.event)
    }
    if (current != null && current !== t) {
      throw new TaskStateError(`task ${t.id}: ${change.event} was decided on an old copy (the task is ${current.state} now)`, TaskStateErrorCode.BAD_TRANSITION, t.id, current.state, change.event)
    }
    return await this.write(t.state, t, change)
  }

  private async write (from: TaskState | null, current: TaskRecord, change: TaskChange): Promise<TaskRecord> {
    const rule = TRANSITIONS[change.event]
    if (from != null && isTerminal(from) && change.event !== 'late-result') {
      throw new TaskStateError(`task ${current.id} is ${from}: it cannot be ${change.event}`, TaskStateErrorCode.TERMINAL, current.id, from, change.event)
    }
    if (!rule.from.includes(from) || !rule.to.includes(change.to) || (change.event === 'late-result' && change.to !== from)) {
      throw new TaskStateError(`task ${current.id}: ${change.event} cannot lead from ${from ?? 'new'} to ${change.to}`, TaskStateErrorCode.BAD_TRANSITION, current.id, from, change.event)
    }
    const at = this.c.now()
    const next = structuredClone(current)
    change.edit?.(next)
    next.state = change.to
    for (const h of change.history ?? []) next.history.push({ at, ...h })
    const actor = change.actor ?? this.c.self
    const details = change.details ?? {}
    const records = auditRecords(change.event, from == null ? null : current, next, actor, details)
    const sync = from == null || isTerminal(change.to)
    await this.c.audit.write(records, [this.c.store.putOp(next)], { sync })
    this.c.store.cache(next)
    const event: TaskEvent = { kind: change.event, task: next, from, to: change.to, at, actor, details }
    for (const fn of this.listeners) {
      try { fn(event) } catch { /* a listener's failure is its own; the change is written */ }
    }
    return next
  }
}

/**
 * The audit entries of a change, derived here so no transition can forget them: what happened,
 * then where it led (the next offer, or the end).
 */
function auditRecords (event: TaskEventKind, before: TaskRecord | null, t: TaskRecord, actor: string, details: Record<string, unknown>): AuditRecord[] {
  const subject = t.id
  const from = before?.state ?? null
  const base = { attempt: t.attempt, ...details }
  const offered: AuditRecord = { action: 'task.offered', subject, details: { attempt: t.attempt, tier: tierOf(t) } }
  const finished: AuditRecord = { action: 'task.finished', subject, details: { state: t.state, attempts: t.attemptsLog.length, executor: t.executor, error: t.error, ...(t.review?.resolvedBy != null ? { resolvedBy: t.review.resolvedBy } : {}), ...(t.source != null ? { source: t.source, learned: t.history.at(-1)?.learned ?? null } : {}) } }
  const escalated: AuditRecord = { action: 'task.escalated', subject, details: { cause: t.review?.cause ?? null, reason: t.review?.reason ?? null, tier: tierOf(t) } }
  // where the change led: a new offer (next attempt or tier), the review queue, or the end
  const outcome = (): AuditRecord[] => {
    if (isTerminal(t.state)) return [finished]
    if (t.state === 'needs-review' && from !== 'needs-review') return [escalated]
    if (t.state === 'offered' && (from !== 'offered' || t.attempt !== before?.attempt)) return [offered]
    return []
  }
  const person = { action: '', subject, actor, details: base }
  switch (event) {
    case 'accepted':
      return [{ action: 'task.accepted', subject, actor, details: { skill: t.spec.skill, submitter: t.spec.submitter, attempts: t.spec.attempts, timeoutS: t.spec.timeoutS, tier: tierOf(t), onFailure: t.spec.onFailure ?? 'fail', ...details } }, ...(t.state === 'offered' ? [offered] : outcome())]
    case 're-offered':
      return [{ action: 'task.offered', subject, details: { ...base, tier: tierOf(t), reoffer: t.reoffers } }]
    case 'assigned':
      return [{ action: 'task.assigned', subject, details: { ...base, executor: t.executor, leaseUntil: t.leaseUntil } }]
    case 'renewed':
      return []
    case 'lease-expired':
      return [{ action: 'task.lease-lost', subject, details: base }, ...outcome()]
    case 'result':
      return [{ action: 'task.result-accepted', subject, actor, details: base }, ...outcome()]
    case 'finished':
      return [...(t.state === 'cancelled' ? [{ action: 'task.cancelled' as const, subject, actor, details: base }] : []), ...outcome()]
    case 'review-claimed':
      return [{ ...person, action: 'review.claimed', details: { ...base, holdUntil: t.review?.holdUntil ?? null } }]
    case 'review-released':
      return [{ ...person, action: 'review.released' }]
    case 'resolved':
      return [{ ...person, action: 'review.resolved', details: { ...base, reuse: t.review?.reuse === true, annotated: (t.review?.annotation ?? '') !== '' } }, finished]
    case 'review-rejected':
      return [{ ...person, action: 'review.rejected' }, finished]
    case 'late-result':
      return [{ action: 'task.result-refused', subject, actor, details: { ...base, reason: `task already ${t.state}` } }]
  }
}

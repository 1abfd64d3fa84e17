import type { AuditRecord } from '../audit/index.js'
import type { StoreOp, WriteOptions } from '../store/index.js'
import { TaskStateError, TaskStateErrorCode } from './errors.js'
import type { TaskStore } from './store.js'
import { isTerminal, type HistoryEntry, type TaskRecord, type TaskState } from './types.js'

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
  | 'lease-expired' // the holder went silent: next attempt, or no attempts left
  | 'result' // a result was accepted: done, next attempt, or recorded beside the current one
  | 'finished' // ended from outside a run: cancelled, or the deadline passed
  | 'late-result' // a result for a task that had already ended: recorded, nothing else

/** Where each kind of change may start, and where it may lead. `null`: the task is new. */
const TRANSITIONS: Record<TaskEventKind, { from: Array<TaskState | null>, to: TaskState[] }> = {
  accepted: { from: [null], to: ['offered'] },
  're-offered': { from: ['offered'], to: ['offered'] },
  assigned: { from: ['offered'], to: ['assigned'] },
  renewed: { from: ['assigned'], to: ['assigned'] },
  'lease-expired': { from: ['assigned'], to: ['offered', 'failed'] },
  result: { from: ['offered', 'assigned'], to: ['offered', 'assigned', 'succeeded', 'failed'] },
  finished: { from: ['offered', 'assigned'], to: ['failed', 'cancelled'] },
  'late-result': { from: ['succeeded', 'failed', 'cancelled'], to: ['succeeded', 'failed', 'cancelled'] }
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

  /** Stores a new task, offered (its first history entry comes from `change.history`). */
  async create (t: TaskRecord, change: Omit<TaskChange, 'event' | 'to'>): Promise<TaskRecord> {
    if (this.c.store.has(t.id)) throw new TaskStateError(`task ${t.id} exists already`, TaskStateErrorCode.EXISTS, t.id, null, 'accepted')
    return await this.write(null, t, { ...change, event: 'accepted', to: 'offered' })
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
    const records = auditRecords(change.event, from, next, actor, details)
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
function auditRecords (event: TaskEventKind, from: TaskState | null, t: TaskRecord, actor: string, details: Record<string, unknown>): AuditRecord[] {
  const subject = t.id
  const base = { attempt: t.attempt, ...details }
  const offered: AuditRecord = { action: 'task.offered', subject, details: { attempt: t.attempt } }
  const finished: AuditRecord = { action: 'task.finished', subject, details: { state: t.state, attempts: t.attemptsLog.length, executor: t.executor, error: t.error } }
  const outcome = (): AuditRecord[] => isTerminal(t.state) ? [finished] : (t.state === 'offered' && from !== 'offered' ? [offered] : [])
  switch (event) {
    case 'accepted':
      return [{ action: 'task.accepted', subject, actor, details: { skill: t.spec.skill, submitter: t.spec.submitter, attempts: t.spec.attempts, timeoutS: t.spec.timeoutS, ...details } }, offered]
    case 're-offered':
      return [{ action: 'task.offered', subject, details: { ...base, reoffer: t.reoffers } }]
    case 'assigned':
      return [{ action: 'task.assigned', subject, details: { ...base, executor: t.executor, leaseUntil: t.leaseUntil } }]
    case 'renewed':
      return []
    case 'lease-expired':
      return [{ action: 'task.lease-lost', subject, details: base }, ...outcome()]
    case 'result':
      return [{ action: 'task.result-accepted', subject, actor, details: base }, ...outcome()]
    case 'finished':
      return [...(t.state === 'cancelled' ? [{ action: 'task.cancelled' as const, subject, actor, details: base }] : []), finished]
    case 'late-result':
      return [{ action: 'task.result-refused', subject, actor, details: { ...base, reason: `task already ${t.state}` } }]
  }
}

import type { Logger } from '../../log.js'
import type { Metrics } from '../../metrics.js'
import type { MemoryEngine } from '../memory.js'
import type { TaskEvent } from '../state.js'
import { isTerminal, type TaskRecord, type TaskState } from '../types.js'

/**
 * What follows a task's changes besides gossip: the metrics, the MemoryEngine (one outcome per
 * accepted result) and the watchers of `aas task watch`. Each is a subscriber of the state
 * machine's events; none writes task state.
 */
export function taskMetrics (m: Metrics, open: () => Iterable<TaskRecord>): (e: TaskEvent) => void {
  const counts = new Map<TaskState, number>([['offered', 0], ['assigned', 0], ['needs-review', 0]])
  for (const t of open()) counts.set(t.state, (counts.get(t.state) ?? 0) + 1)
  const show = (): void => { for (const [state, n] of counts) m.tasksOpen.set({ state }, n) }
  show()
  return (e) => {
    if (e.from !== e.to) {
      if (e.from != null && !isTerminal(e.from)) counts.set(e.from, (counts.get(e.from) ?? 1) - 1)
      if (!isTerminal(e.to)) counts.set(e.to, (counts.get(e.to) ?? 0) + 1)
      show()
    }
    const t = e.task
    if (e.kind === 'assigned') {
      const bids = Number(e.details.bids ?? 1)
      m.taskBids.inc({ result: 'won' })
      if (bids > 1) m.taskBids.inc({ result: 'lost' }, bids - 1)
    }
    if (e.to === 'needs-review' && e.from !== 'needs-review') m.tasksEscalated.inc({ reason: t.review?.cause ?? 'attempts-spent' })
    if (e.kind === 'lease-expired') m.taskLeaseExpiries.inc()
    if (e.kind === 'late-result') m.taskLateResults.inc()
    if (e.kind === 'result') m.sandboxRunSeconds.observe({ status: String(e.details.status) }, Number(e.details.sandboxMs ?? 0) / 1000)
    if (isTerminal(e.to) && (e.from == null || !isTerminal(e.from))) {
      if (e.to === 'succeeded') m.taskSubmitToResultSeconds.observe((e.at - t.spec.submittedAt) / 1000)
      m.taskAttempts.observe(t.attemptsLog.length)
      m.tasksFinished.inc({ state: e.to })
    }
  }
}

/**
 * Every accepted result, and every reviewer's decision, becomes an outcome in the MemoryEngine:
 * per release, input and executor (for a decision, the person), with the attempts taken.
 */
export function memoryRecorder (memory: MemoryEngine, log: Logger): (e: TaskEvent) => void {
  return (e) => {
    const t = e.task
    // a run's outcome, or a person's: a resolution counts as a success, a rejection as a failure
    const status = e.kind === 'result' ? String(e.details.status) : e.kind === 'resolved' ? 'resolved' : e.kind === 'review-rejected' ? 'rejected' : undefined
    if (status === undefined) return
    const executor = e.kind === 'result' ? String(e.details.executor ?? e.actor) : e.actor
    const durationMs = e.kind === 'result' ? Number(e.details.sandboxMs ?? 0) : e.at - (t.review?.since ?? e.at)
    memory.record({ skill: t.spec.skill, input: t.spec.input, executor, status, durationMs, attempts: t.attemptsLog.length })
      .catch((err: Error) => { log.warn({ err, task: t.id }, 'could not record the outcome') })
  }
}

/** `aas task watch`: callbacks on each change of one task until it ends. */
export class TaskWatchers {
  private readonly watchers = new Map<string, Set<(t: TaskRecord) => void>>()

  readonly listener = (e: TaskEvent): void => {
    if (e.kind === 'renewed') return
    for (const fn of this.watchers.get(e.task.id) ?? []) fn(e.task)
  }

  /** Calls `fn` on every change of the task; returns an unsubscribe. */
  watch (id: string, fn: (t: TaskRecord) => void): () => void {
    let set = this.watchers.get(id)
    if (set == null) { set = new Set(); this.watchers.set(id, set) }
    set.add(fn)
    return () => { set.delete(fn); if (set.size === 0) this.watchers.delete(id) }
  }
}

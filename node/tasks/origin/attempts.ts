import type { TaskChange } from '../state.js'
import type { HistoryEntry, TaskRecord, TaskTerminalState } from '../types.js'

/**
 * Where a task goes when an attempt ends without a result (a failed run, a lost lease) or the
 * task must end: the next attempt, offered again without the executor that failed while others
 * can take it, or — attempts spent — failed. (Tier escalation and the human review queue hook
 * in here: a later part turns "attempts spent" into the next tier or `needs-review`.)
 */
export type AttemptOutcome = Pick<TaskChange, 'to' | 'edit' | 'history'>

export function afterFailedAttempt (t: TaskRecord, reason: string, failed: string | null, now: number): AttemptOutcome {
  if (t.attemptsLog.length >= t.spec.attempts) return ended('failed', t, `attempts spent (${t.attemptsLog.length} of ${t.spec.attempts}); last: ${reason}`, now)
  return {
    to: 'offered',
    edit: (x) => {
      if (failed != null && !x.exclude.includes(failed)) x.exclude.push(failed)
      x.attempt = t.attempt + 1
      x.offeredAt = now
      x.lastOfferAt = now
      x.reoffers = 0
      x.executor = null
      x.leaseUntil = null
    },
    history: [{ state: 'offered', attempt: t.attempt + 1, detail: reason }]
  }
}

/** The task ends in `state` with `error` (or `output`). */
export function ended (state: TaskTerminalState, t: TaskRecord, error: string | null, now: number, output: unknown = null, executor = t.executor): AttemptOutcome {
  const history: Array<Omit<HistoryEntry, 'at'>> = [{ state, attempt: t.attempt, ...(executor != null ? { executor } : {}), ...(error != null ? { detail: error } : {}) }]
  return {
    to: state,
    edit: (x) => {
      x.executor = executor
      x.output = output
      x.error = error
      x.leaseUntil = null
      x.completedAt = now
    },
    history
  }
}

/** Two edits, one after the other. */
export function both (a: TaskChange['edit'], b: TaskChange['edit']): TaskChange['edit'] {
  return (x) => { a?.(x); b?.(x) }
}

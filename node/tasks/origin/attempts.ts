import type { TaskChange } from '../state.js'
import { tierOf, type AppliedFix, type EscalationCause, type HistoryEntry, type TaskRecord, type TaskTerminalState } from '../types.js'

/**
 * Where a task goes when an attempt ends without a result (a failed run, a lost lease, the
 * deadline) — DESIGN.md "Task lifecycle" step 6: the next attempt at the same tier, offered
 * without the executor that failed while others can take it; attempts spent there, the next
 * higher tier that some executor in the mesh has, with fresh attempts and time; past the top
 * tier — once, when a reviewer gave a fix for this very failure (the SelfImprover's fix hints) —
 * one more attempt with the fix applied; then the origin's human review queue (`needs-review`)
 * when the submitter asked for it, else the end, failed.
 */
export type AttemptOutcome = Pick<TaskChange, 'to' | 'edit' | 'history'>

export interface FailureContext {
  now: number
  /** Tiers of the executors this origin knows of now (its own included). */
  tiers: number[]
  /** A reviewer's fix for the run's failure, checked against the input schema (SelfImprover rule 4). */
  fix?: (t: TaskRecord, failure: { status: string, error: string | null }) => { fix: Omit<AppliedFix, 'attempt'>, learned: { rule: string, evidence: Record<string, unknown> } } | undefined
}

export interface Failure {
  reason: string
  /** The executor that failed (excluded from the next attempt), if any. */
  failed: string | null
  /** Why the tier is over at once, attempts left or not (the skill asked for a human, the deadline passed). */
  tierOver?: EscalationCause
  /** How the run ended, when a run ended it (what a fix hint is matched on). */
  run?: { status: string, error: string | null }
}

export function afterFailedAttempt (t: TaskRecord, f: Failure, ctx: FailureContext): AttemptOutcome {
  const { now } = ctx
  const spentHere = t.attemptsLog.length - (t.tierStart ?? 0)
  if (f.tierOver == null && spentHere < t.spec.attempts) {
    return {
      to: 'offered',
      edit: (x) => {
        if (f.failed != null && !x.exclude.includes(f.failed)) x.exclude.push(f.failed)
        nextOffer(x, t, now)
      },
      history: [{ state: 'offered', attempt: t.attempt + 1, detail: f.reason }]
    }
  }
  const tier = tierOf(t)
  const higher = ctx.tiers.filter(x => x > tier).sort((a, b) => a - b)[0]
  const why = f.tierOver != null ? f.reason : `attempts spent at tier ${tier} (${spentHere} of ${t.spec.attempts}); last: ${f.reason}`
  if (higher != null) {
    return {
      to: 'offered',
      edit: (x) => {
        x.tier = higher
        x.tierStart = x.attemptsLog.length
        x.exclude = []
        // a new tier gets the task's whole time again: its deadline may have been what ended the last one
        x.deadline = Math.max(x.deadline, now + t.spec.timeoutS * 1000)
        nextOffer(x, t, now)
      },
      history: [{ state: 'offered', attempt: t.attempt + 1, detail: `tier ${higher}: ${why}` }]
    }
  }
  // a failed run (not time or a lost lease) that a reviewer once fixed: retry once with the fix
  const fix = f.run != null && (f.tierOver == null || f.tierOver === 'needs-human') ? ctx.fix?.(t, f.run) : undefined
  if (fix != null) {
    const applied: AppliedFix = { ...fix.fix, attempt: t.attempt + 1 }
    return {
      to: 'offered',
      edit: (x) => {
        // the executors that failed earlier attempts stay excluded; the one that ran into the fixed failure did nothing wrong
        x.fix = applied
        x.deadline = Math.max(x.deadline, now + t.spec.timeoutS * 1000)
        nextOffer(x, t, now)
      },
      history: [{ state: 'offered', attempt: t.attempt + 1, detail: `retried once with the fix from review ${applied.review}: ${why}`, learned: fix.learned }]
    }
  }
  if (t.spec.onFailure === 'review') {
    const cause: EscalationCause = f.tierOver ?? 'attempts-spent'
    return {
      to: 'needs-review',
      edit: (x) => {
        x.leaseUntil = null
        x.review = { cause, reason: why, since: now, holder: null, holdUntil: null }
      },
      history: [{ state: 'needs-review', attempt: t.attempt, detail: why }]
    }
  }
  return ended('failed', t, why, now)
}

function nextOffer (x: TaskRecord, t: TaskRecord, now: number): void {
  x.attempt = t.attempt + 1
  x.offeredAt = now
  x.lastOfferAt = now
  x.reoffers = 0
  x.executor = null
  x.leaseUntil = null
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

import type { TaskFix, TaskRecord } from '../types.js'
import type { OriginContext } from './context.js'

/**
 * The review queue's changes of task state (DESIGN.md "Human fallback"): a reviewer holds a
 * task for a while so two people never work one; the hold ends by release or expiry; the
 * reviewer's answer ends the task `resolved`, a rejection ends it `failed`. Checks of who may
 * do what are the caller's (node/review); these only change state, through the one machine.
 */
export async function claimHold (ctx: OriginContext, t: TaskRecord, person: string, holdMs: number): Promise<TaskRecord> {
  const until = ctx.now() + holdMs
  return await ctx.machine.apply(t, {
    event: 'review-claimed',
    to: 'needs-review',
    actor: person,
    edit: (x) => { if (x.review != null) { x.review.holder = person; x.review.holdUntil = until } },
    history: [{ state: 'review-claimed', attempt: t.attempt, detail: person }]
  })
}

export async function releaseHold (ctx: OriginContext, t: TaskRecord, person: string, why: string): Promise<TaskRecord> {
  return await ctx.machine.apply(t, {
    event: 'review-released',
    to: 'needs-review',
    actor: person,
    edit: (x) => { if (x.review != null) { x.review.holder = null; x.review.holdUntil = null } },
    history: [{ state: 'review-released', attempt: t.attempt, detail: `${person}: ${why}` }],
    details: { why }
  })
}

export async function resolveTask (ctx: OriginContext, t: TaskRecord, person: string, answer: { output: unknown, annotation: string, reuse: boolean, fix?: TaskFix }): Promise<TaskRecord> {
  const now = ctx.now()
  return await ctx.machine.apply(t, {
    event: 'resolved',
    to: 'resolved',
    actor: person,
    edit: (x) => {
      x.output = answer.output
      x.error = null
      x.completedAt = now
      x.leaseUntil = null
      if (x.review != null) Object.assign(x.review, { holder: null, holdUntil: null, resolvedBy: person, annotation: answer.annotation, reuse: answer.reuse, decidedAt: now }, answer.fix != null ? { fix: answer.fix } : {})
    },
    history: [{ state: 'resolved', attempt: t.attempt, detail: person }],
    ...(answer.fix != null ? { details: { fix: Object.keys(answer.fix.input) } } : {})
  })
}

export async function rejectTask (ctx: OriginContext, t: TaskRecord, person: string, reason: string): Promise<TaskRecord> {
  const now = ctx.now()
  return await ctx.machine.apply(t, {
    event: 'review-rejected',
    to: 'failed',
    actor: person,
    edit: (x) => {
      x.output = null
      x.error = `rejected by ${person}: ${reason}`
      x.completedAt = now
      x.leaseUntil = null
      if (x.review != null) Object.assign(x.review, { holder: null, holdUntil: null, resolvedBy: person, annotation: reason, decidedAt: now })
    },
    history: [{ state: 'failed', attempt: t.attempt, detail: `rejected by ${person}: ${reason}` }],
    details: { reason }
  })
}

import { tierOf, type TaskRecord } from '../types.js'
import { afterFailedAttempt, both } from './attempts.js'
import { failureContext, type OriginContext } from './context.js'

/**
 * Leases and deadlines (DESIGN.md "Task lifecycle" step 5): the holder of an attempt renews
 * its lease while it runs; a lease not renewed in time means the executor is lost, and the
 * task goes to its next attempt. A task past its deadline ends, failed.
 */
export type RenewAnswer = { ok: true, leaseUntil: number } | { ok: false, reason: string }

export async function renew (ctx: OriginContext, taskId: string, attempt: number, from: string): Promise<RenewAnswer> {
  const t = ctx.store.open.get(taskId)
  if (t == null) return { ok: false, reason: 'task is finished' }
  if (ctx.now() > t.deadline) {
    await expireDeadline(ctx, t)
    return { ok: false, reason: 'deadline passed' }
  }
  if (t.state !== 'assigned' || t.attempt !== attempt || t.executor !== from) return { ok: false, reason: 'lease lost' }
  const leaseUntil = ctx.now() + ctx.opts.leaseMs
  await ctx.machine.apply(t, { event: 'renewed', to: 'assigned', actor: from, edit: (x) => { x.leaseUntil = leaseUntil } })
  return { ok: true, leaseUntil }
}

/**
 * The deadline passed: with nobody having bid, or with attempts still out, the tier is over —
 * the task climbs, goes to review, or ends failed.
 */
export async function expireDeadline (ctx: OriginContext, t: TaskRecord): Promise<TaskRecord> {
  const noBidder = t.attemptsLog.length === (t.tierStart ?? 0)
  const reason = noBidder ? `no executor took it before the deadline (tier ${tierOf(t)})` : `deadline passed (attempt ${t.attempt})`
  const next = afterFailedAttempt(t, { reason, failed: null, tierOver: noBidder ? 'no-bidder' : 'deadline' }, failureContext(ctx))
  return await ctx.machine.apply(t, { event: 'finished', ...next, details: { reason: 'deadline' } })
}

/** The holder did not renew in time: its attempt is over; the next one is offered. */
export async function expireLease (ctx: OriginContext, t: TaskRecord): Promise<void> {
  const fctx = failureContext(ctx)
  ctx.log.info({ task: t.id, attempt: t.attempt, executor: t.executor }, 'lease expired: offering the next attempt')
  const next = afterFailedAttempt(t, { reason: `lease of attempt ${t.attempt} expired`, failed: t.executor }, fctx)
  await ctx.machine.apply(t, {
    event: 'lease-expired',
    to: next.to,
    edit: both((x) => {
      const held = x.attemptsLog.find(a => a.attempt === x.attempt && a.executor === x.executor)
      if (held != null) { held.status = 'lease-expired'; held.endedAt = fctx.now }
    }, next.edit),
    history: [{ state: 'lease-expired', attempt: t.attempt, ...(t.executor != null ? { executor: t.executor } : {}) }, ...(next.history ?? [])],
    details: { executor: t.executor }
  })
}

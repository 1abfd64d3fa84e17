import type { TaskResultBody } from '../../../protocol/index.js'
import { isTerminal } from '../types.js'
import { afterFailedAttempt, both, ended } from './attempts.js'
import { failureContext, type OriginContext } from './context.js'
import { expireDeadline } from './leases.js'

/**
 * Results (DESIGN.md "Task lifecycle" steps 4–5): only the executor that held an attempt may
 * report it; the first successful result completes the task (exactly-once acceptance), a
 * failed run from the current holder starts the next attempt, and a result for a task that
 * has ended is recorded as late and changes nothing else.
 */
export interface ResultAnswer { accepted: boolean, reason?: string }

export async function receiveResult (ctx: OriginContext, r: TaskResultBody, from: string): Promise<ResultAnswer> {
  let t = ctx.store.open.get(r.taskId) ?? await ctx.store.get(r.taskId)
  if (t == null) return { accepted: false, reason: 'unknown task' }
  if (!isTerminal(t.state) && ctx.now() > t.deadline) {
    // no result is accepted past the deadline, whether or not the tick has seen it yet
    t = await expireDeadline(ctx, t)
  }
  const held = t.attemptsLog.find(a => a.attempt === r.attempt && a.executor === from)
  if (held == null) return { accepted: false, reason: 'this executor did not hold that attempt' }
  const details = { executor: from, status: r.status, sandboxMs: r.timings.sandboxMs, fetchMs: r.timings.fetchMs }
  if (isTerminal(t.state)) {
    await ctx.machine.apply(t, {
      event: 'late-result',
      to: t.state,
      actor: from,
      history: [{ state: 'late-result', attempt: r.attempt, executor: from, detail: `${r.status}; task already ${t.state}` }],
      details: { ...details, attempt: r.attempt }
    })
    return { accepted: false, reason: `duplicate: task already ${t.state}` }
  }
  if ((held.status != null && held.status !== 'lease-expired') || held.late != null) return { accepted: false, reason: 'duplicate: this attempt already reported' }
  const now = ctx.now()
  const record = (x: typeof t): void => {
    const h = x.attemptsLog.find(a => a.attempt === r.attempt && a.executor === from)!
    h.timings = r.timings
    if (r.stderrTail != null) h.stderrTail = r.stderrTail
    if (h.status === 'lease-expired') h.late = r.status
    if (h.status === 'lease-expired' && r.status === 'succeeded') {
      // the first success is accepted whenever it comes: the attempt succeeded, late
      h.status = 'succeeded'
      h.error = 'succeeded after its lease expired'
    } else if (h.status === 'lease-expired') {
      // keep why the attempt ended; the late run's outcome goes in the error
      h.error = `ran after its lease expired: ${r.status}${r.error != null ? `: ${r.error}` : ''}`
    } else {
      h.endedAt = now
      h.status = r.status
      if (r.error != null) h.error = r.error
    }
  }
  const history = [{ state: 'result' as const, attempt: r.attempt, executor: from, detail: r.status }]
  const base = { event: 'result' as const, actor: from, details: { ...details, attempt: r.attempt } }
  if (r.status === 'succeeded') {
    const done = ended('succeeded', t, null, now, r.output, from)
    await ctx.machine.apply(t, {
      ...base,
      to: 'succeeded',
      edit: both(record, both(done.edit, (x) => {
        x.timings = {
          offerToAssignMs: Math.max(0, held.assignedAt - t.offeredAt),
          fetchMs: r.timings.fetchMs,
          sandboxMs: r.timings.sandboxMs,
          resultMs: Math.max(0, now - held.assignedAt - r.timings.fetchMs - r.timings.sandboxMs)
        }
      })),
      history: [...history, ...(done.history ?? [])]
    })
    return { accepted: true }
  }
  // a failed run counts as an attempt; from the holder of the current attempt, go on
  if (t.state === 'assigned' && t.attempt === r.attempt && t.executor === from) {
    const reason = `attempt ${r.attempt} ${r.status}: ${r.error ?? ''}`.trim()
    const next = afterFailedAttempt(t, { reason, failed: from, tierOver: r.status === 'needs-human' ? 'needs-human' : undefined, run: { status: r.status, error: r.error ?? null } }, failureContext(ctx))
    await ctx.machine.apply(t, { ...base, to: next.to, edit: both(record, next.edit), history: [...history, ...(next.history ?? [])] })
  } else {
    await ctx.machine.apply(t, { ...base, to: t.state, edit: record, history })
  }
  return { accepted: true }
}

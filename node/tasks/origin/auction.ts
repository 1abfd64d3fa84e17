import { createHash } from 'node:crypto'
import type { TaskClaimBody, TaskSkillRef } from '../../../protocol/index.js'
import type { TaskRecord } from '../types.js'
import type { TaskEvent } from '../state.js'
import type { OriginContext } from './context.js'

/**
 * The bid window (DESIGN.md "Task lifecycle" step 3): executors send bids over a stream; the
 * first bid opens a short window, and when it closes the best bid wins. Bids are judged by
 * what the origin knows of the bidder, not by what the bid claims (free slots, cache, load are
 * the bidder's word, and an outsider or a greedy member would inflate them): the bidder that
 * holds fewest of this origin's open tasks now wins; ties broken by a hash of task and peer, so
 * every run picks the same. The SelfImprover's routing applies after. The winner gets the
 * input and a lease; the others hear why not.
 */
export type ClaimAnswer = { won: true, input: unknown, leaseUntil: number, deadline: number, skill: TaskSkillRef, resources: TaskResources } | { won: false, reason: string }
type TaskResources = TaskRecord['spec']['resources']

interface Bid { from: string, claim: TaskClaimBody, at: number, answer: (a: ClaimAnswer) => void }
interface Window { bids: Bid[], timer: NodeJS.Timeout }

export class Auction {
  private readonly windows = new Map<string, Window>()

  constructor (private readonly ctx: OriginContext, private readonly serial: <T>(fn: () => Promise<T>) => Promise<T>) {}

  /** Open bid windows (the tick does not re-offer a task that has one). */
  has (id: string): boolean {
    return this.windows.has(id)
  }

  /** A bid; answered when the window closes. */
  async claim (claim: TaskClaimBody, from: string): Promise<ClaimAnswer> {
    const { ctx } = this
    const t = ctx.store.open.get(claim.taskId)
    if (t == null) return { won: false, reason: 'no such open task' }
    if (t.state !== 'offered' || claim.attempt !== t.attempt) return { won: false, reason: 'already assigned' }
    const now = ctx.now()
    if (t.exclude.includes(from) && now - t.offeredAt < 2 * ctx.opts.bidWindowMs + 1000) return { won: false, reason: 'excluded: failed an earlier attempt' }
    return await new Promise<ClaimAnswer>((resolve) => {
      let w = this.windows.get(t.id)
      if (w == null) {
        w = { bids: [], timer: setTimeout(() => { void this.serial(async () => { await this.close(t.id) }) }, ctx.opts.bidWindowMs) }
        this.windows.set(t.id, w)
      }
      w.bids.push({ from, claim, at: now, answer: resolve })
    })
  }

  private async close (id: string): Promise<void> {
    const w = this.windows.get(id)
    this.windows.delete(id)
    if (w == null) return
    const t = this.ctx.store.open.get(id)
    if (t == null || t.state !== 'offered') {
      for (const b of w.bids) b.answer({ won: false, reason: 'no longer offered' })
      return
    }
    const ranked = rankBids(id, w.bids, heldTasks(this.ctx.store.open.values()), this.ctx.tierOf)
    // the SelfImprover may prefer an executor with a better record on this skill
    const routed = this.ctx.improver?.route?.(t.spec.skill.name, ranked.map(b => b.from))
    const best = ranked[routed?.index ?? 0]
    const now = this.ctx.now()
    const leaseUntil = now + this.ctx.opts.leaseMs
    let assigned
    try {
      assigned = await this.ctx.machine.apply(t, {
        event: 'assigned',
        to: 'assigned',
        edit: (x) => {
          x.executor = best.from
          x.leaseUntil = leaseUntil
          x.attemptsLog.push({ attempt: x.attempt, executor: best.from, assignedAt: now })
        },
        history: [
          ...w.bids.map(b => ({ state: 'bid' as const, attempt: t.attempt, executor: b.from })),
          { state: 'assigned', attempt: t.attempt, executor: best.from, ...(routed != null ? { learned: routed.learned } : {}) }
        ],
        details: { bids: w.bids.length, ...(routed != null ? { routed: true } : {}) }
      })
    } catch (err) {
      this.ctx.log.warn({ err, task: id }, 'could not assign')
      for (const b of w.bids) b.answer({ won: false, reason: 'origin could not record the assignment' })
      return
    }
    for (const b of w.bids) {
      b.answer(b === best ? { won: true, input: assigned.fix?.input ?? assigned.spec.input, leaseUntil, deadline: assigned.deadline, skill: assigned.spec.skill, resources: assigned.spec.resources } : { won: false, reason: 'another executor won' })
    }
  }

  /** Ends the window of a task that ended (its bidders hear why). */
  onEvent (e: TaskEvent): void {
    if (e.from == null || e.from === e.to || e.to === 'offered' || e.to === 'assigned') return
    const w = this.windows.get(e.task.id)
    if (w == null) return
    clearTimeout(w.timer)
    this.windows.delete(e.task.id)
    for (const b of w.bids) b.answer({ won: false, reason: `task ${e.to}` })
  }

  stop (): void {
    for (const w of this.windows.values()) {
      clearTimeout(w.timer)
      for (const b of w.bids) b.answer({ won: false, reason: 'origin stopping' })
    }
    this.windows.clear()
  }
}

/** How many open tasks each executor holds now (assigned to it), from the origin's own records. */
export function heldTasks (open: Iterable<Pick<TaskRecord, 'state' | 'executor'>>): Map<string, number> {
  const held = new Map<string, number>()
  for (const t of open) if (t.state === 'assigned' && t.executor != null) held.set(t.executor, (held.get(t.executor) ?? 0) + 1)
  return held
}

/**
 * Bids best first, by what the origin knows of each bidder (the claims do not count): the
 * lowest executor tier (its hellos say it: a task climbs to a higher tier only when the lower
 * ones failed it, so it does not start there), then the fewest of this origin's tasks held,
 * then a hash.
 */
export function rankBids<B extends { from: string }> (taskId: string, bids: B[], held: ReadonlyMap<string, number> = new Map(), tierOf: (peer: string) => number | undefined = () => undefined): B[] {
  const tie = (peer: string): string => createHash('sha256').update(`${taskId}/${peer}`).digest('hex')
  const tier = (peer: string): number => tierOf(peer) ?? 0
  return [...bids].sort((a, b) => tier(a.from) - tier(b.from) || (held.get(a.from) ?? 0) - (held.get(b.from) ?? 0) || tie(a.from).localeCompare(tie(b.from)))
}

/** The best bid. */
export function pickBid<B extends { from: string }> (taskId: string, bids: B[], held?: ReadonlyMap<string, number>, tierOf?: (peer: string) => number | undefined): B {
  return rankBids(taskId, bids, held, tierOf)[0]
}

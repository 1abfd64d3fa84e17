import type { TaskClaimBody, TaskResultBody } from '../../../protocol/index.js'
import type { TaskRecord } from '../types.js'
import { Auction, type ClaimAnswer } from './auction.js'
import { ended } from './attempts.js'
import type { OriginComponents, OriginContext, OriginOptions } from './context.js'
import { expireDeadline, expireLease, renew, type RenewAnswer } from './leases.js'
import { receiveResult, type ResultAnswer } from './results.js'
import { accept, type SubmitRequest } from './submit.js'
import { releaseHold } from './review.js'

/**
 * The origin of the tasks submitted to this node (DESIGN.md "Task lifecycle"): the one
 * authority on them. It composes the parts — submit, auction, leases, results — runs every
 * change of task state one at a time (a result arriving while the tick finds the same lease
 * expired must not interleave with it), and drives time: deadlines, lease expiries and offers
 * nobody claimed. Open tasks survive a restart: reloaded and driven on from their state.
 */
export class TaskOrigin {
  private readonly ctx: OriginContext
  readonly auction: Auction
  private ticker: NodeJS.Timeout | undefined
  private chain: Promise<unknown> = Promise.resolve()
  private ticking = false
  private unsubscribe: (() => void) | undefined

  constructor (c: OriginComponents, opts: OriginOptions) {
    this.ctx = { ...c, opts }
    this.auction = new Auction(this.ctx, async (fn) => await this.serial(fn))
  }

  /** Runs `fn` in turn with every other change of task state (the review queue's changes too). */
  async run<T> (fn: (ctx: OriginContext) => Promise<T>): Promise<T> {
    return await this.serial(async () => await fn(this.ctx))
  }

  private async serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn)
    this.chain = run.catch(() => {})
    return await run
  }

  async start (opts: { tick?: boolean } = {}): Promise<void> {
    const { store, log } = this.ctx
    const n = await store.load()
    if (n > 0) log.info({ open: n }, 'resuming open tasks')
    const now = this.ctx.now()
    for (const t of store.open.values()) {
      // an offer out before the restart may be gone: offer again at once
      if (t.state === 'offered') t.lastOfferAt = 0
      // executors could not renew while this node was down: give them a lease's time to
      // renew or deliver before their attempt counts as lost
      if (t.state === 'assigned') t.leaseUntil = Math.max(t.leaseUntil ?? 0, now + this.ctx.opts.leaseMs)
    }
    this.unsubscribe = this.ctx.machine.on((e) => { this.auction.onEvent(e) })
    if (opts.tick !== false) this.ticker = setInterval(() => { void this.tick() }, 250)
  }

  stop (): void {
    clearInterval(this.ticker)
    this.unsubscribe?.()
    this.auction.stop()
  }

  /** Checks and stores a task, then offers it. Nothing is stored on any error. */
  async submit (req: SubmitRequest, submitter: string): Promise<TaskRecord> {
    return await this.serial(async () => await accept(this.ctx, req, submitter))
  }

  async get (id: string): Promise<TaskRecord | undefined> {
    return await this.ctx.store.get(id)
  }

  async cancel (id: string, by = this.ctx.self): Promise<TaskRecord | undefined> {
    return await this.serial(async () => {
      const t = this.ctx.store.open.get(id)
      if (t == null) return await this.ctx.store.get(id)
      return await this.ctx.machine.apply(t, { event: 'finished', ...ended('cancelled', t, 'cancelled by the submitter', this.ctx.now()), actor: by })
    })
  }

  /** A bid from an executor; answered when the bid window closes. */
  async claim (claim: TaskClaimBody, from: string): Promise<ClaimAnswer> {
    return await this.auction.claim(claim, from)
  }

  /** A revoked executor: its attempts end now (lease lost) and their tasks are offered again. */
  async revokeExecutor (peer: string): Promise<number> {
    return await this.serial(async () => {
      let n = 0
      for (const t of [...this.ctx.store.open.values()]) {
        if (t.state === 'assigned' && t.executor === peer) { await expireLease(this.ctx, t); n++ }
      }
      return n
    })
  }

  async renew (taskId: string, attempt: number, from: string): Promise<RenewAnswer> {
    return await this.serial(async () => await renew(this.ctx, taskId, attempt, from))
  }

  async result (r: TaskResultBody, from: string): Promise<ResultAnswer> {
    return await this.serial(async () => await receiveResult(this.ctx, r, from))
  }

  private reofferDelay (t: TaskRecord): number {
    return Math.min(this.ctx.opts.reofferMs * 2 ** (t.reoffers ?? 0), 120_000)
  }

  /** Deadlines, lease expiries and offers nobody claimed, as of the clock now. */
  async tick (): Promise<void> {
    if (this.ticking) return
    this.ticking = true
    try {
      await this.serial(async () => { await this.tickNow() })
    } catch (err) {
      this.ctx.log.warn({ err }, 'task tick failed')
    } finally {
      this.ticking = false
    }
  }

  private async tickNow (): Promise<void> {
    const { store, machine } = this.ctx
    const now = this.ctx.now()
    for (const t of [...store.open.values()]) {
      if (t.state === 'needs-review') {
        // a person has no deadline; an expired hold goes back to the queue
        if (t.review?.holder != null && (t.review.holdUntil ?? 0) < now) await releaseHold(this.ctx, t, t.review.holder, 'hold expired')
      } else if (now > t.deadline) {
        await expireDeadline(this.ctx, t)
      } else if (t.state === 'assigned' && t.leaseUntil != null && now > t.leaseUntil) {
        await expireLease(this.ctx, t)
      } else if (t.state === 'offered' && !this.auction.has(t.id) && now - (t.lastOfferAt ?? 0) > this.reofferDelay(t)) {
        // executors keep offers they could not bid for yet, so an offer is repeated only in
        // case it was lost, with exponential backoff: gossip per task stays near constant
        await machine.apply(t, {
          event: 're-offered',
          to: 'offered',
          edit: (x) => { x.reoffers = (x.reoffers ?? 0) + 1; x.lastOfferAt = now },
          history: [{ state: 're-offered', attempt: t.attempt }]
        })
      }
    }
  }
}

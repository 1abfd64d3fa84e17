import { decodeCanonical, encodeCanonical, RESULT_STDERR_TAIL_CHARS, type TaskOfferBody, type TaskResultBody } from '../../protocol/index.js'
import type { SandboxRunner } from '../../skills/sandbox/index.js'
import { effectiveLimits, type SandboxLimits, type SandboxOptions } from '../../skills/sandbox/options.js'
import { bundleManifest } from '../../skills/bundle/index.js'
import type { TrustPolicy } from '../../federation/index.js'
import type { Db } from '../store/index.js'
import type { Metrics } from '../metrics.js'
import type { Logger } from '../log.js'
import type { SkillService } from '../skills/service.js'
import type { ClaimAnswer } from './origin/index.js'
import type { OriginClient } from './origin-client.js'

/**
 * The executor side of the task lifecycle: with a free slot, it bids for offers of trusted
 * skills (through its OriginClient: signed envelopes to any origin, its own node's included), runs the tasks
 * it wins in the sandbox while renewing the lease, and delivers a signed result — kept in
 * LevelDB and retried until the origin acks it or the task's deadline passes, across restarts.
 * Offers it cannot bid for now wait in a queue until a slot frees, and leave it when the
 * assignment or completion is gossiped.
 */
export interface ExecutorInit {
  slots: number
  /** Renew the lease this often (a third of the lease, so two renewals may fail). */
  renewMs: number
  /** This node's tier (`tasks.tier`): it bids for offers of this tier and below. */
  tier?: number
}

export interface ExecutorComponents {
  self: string
  client: OriginClient
  skills: SkillService
  runner: SandboxRunner
  trust: TrustPolicy
  db: Db
  metrics: Metrics
  log: Logger
  now: () => number
}

interface Offer { body: TaskOfferBody, origin: string, at: number }
interface Running { attempt: number, origin: string, abort: AbortController }
interface PendingResult { origin: string, envelope: Uint8Array, deadline: number, tries: number }

const MAX_QUEUED_OFFERS = 10_000
/** The longest a task may take (a submission's timeout is at most a day), plus clock skew. */
const MAX_TASK_MS = 86_400_000 + 60_000

/**
 * What an origin asks for a run, as a wish: values that are not positive numbers are dropped
 * (podman reads `--cpus 0` as "no limit"), and the runner caps the rest by the manifest's and
 * this node's own limits.
 */
export function cappedResources (wish: Partial<Record<'memoryMB' | 'cpus' | 'pids' | 'timeoutS', unknown>> | undefined): Partial<Record<'memoryMB' | 'cpus' | 'pids' | 'timeoutS', number>> {
  const out: Partial<Record<'memoryMB' | 'cpus' | 'pids' | 'timeoutS', number>> = {}
  for (const k of ['memoryMB', 'cpus', 'pids', 'timeoutS'] as const) {
    const v = wish?.[k]
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) out[k] = v
  }
  return out
}

/** The limits of a task's run: the origin's wish, never above what the manifest asks and this node's policy allows. */
export function runLimits (options: SandboxOptions, manifest: Partial<SandboxLimits> | undefined, wish: Parameters<typeof cappedResources>[0]): SandboxLimits {
  const own = effectiveLimits(options, manifest)
  const w = cappedResources(wish)
  const limits = { ...own }
  for (const k of ['memoryMB', 'cpus', 'pids', 'timeoutS'] as const) limits[k] = Math.min(own[k], w[k] ?? own[k])
  return limits
}

export class TaskExecutor {
  private readonly queue = new Map<string, Offer>()
  private readonly running = new Map<string, Running>()
  /** Slots held: from a bid until its run ends (or the bid is lost). */
  private reserved = 0
  private readonly pending = new Map<string, PendingResult>()
  private retryTimer: NodeJS.Timeout | undefined
  private stopped = false
  /** Claims in flight, each until its run has ended and its sandbox is gone: stop waits for them. */
  private readonly claims = new Set<Promise<void>>()

  constructor (private readonly c: ExecutorComponents, private readonly init: ExecutorInit) {}

  get slots (): number { return this.init.slots }

  /** The tier this node executes at, or undefined when it executes nothing. */
  get tier (): number | undefined { return this.init.slots > 0 ? (this.init.tier ?? 0) : undefined }

  /** No sandbox here: bid for nothing. */
  disable (): void {
    this.init.slots = 0
  }
  get busy (): number { return this.reserved }

  async start (): Promise<void> {
    for await (const [key, value] of this.c.db.iterator({ gte: 'r!', lt: 'r!\xff' })) {
      this.pending.set(key, decodeCanonical(value) as PendingResult)
    }
    if (this.pending.size > 0) this.c.log.info({ results: this.pending.size }, 'delivering results kept from before the restart')
    this.retryTimer = setInterval(() => { void this.deliverPending() }, 1000)
    void this.deliverPending()
  }

  /**
   * Aborts every run and waits until each has ended: a run's sandbox container is removed by
   * the run itself, so a node that exits before its runs end would leave containers behind.
   */
  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.retryTimer)
    this.queue.clear()
    for (const r of this.running.values()) r.abort.abort()
    await Promise.allSettled([...this.claims])
  }

  /** An offer heard on gossip (or from this node's own origin). */
  onOffer (body: TaskOfferBody, origin: string): void {
    if (this.init.slots === 0 || this.stopped) return
    // a team offer names no skill: the winner learns it, and checks its author then
    if (body.skill != null && !this.c.trust.trustsAuthor(body.skill.author)) return
    if ((body.tier ?? 0) > (this.init.tier ?? 0)) return
    const now = this.c.now()
    // a deadline further out than any task may run is not taken at its word
    if (body.deadline < now || body.deadline > now + MAX_TASK_MS || this.running.has(body.taskId)) return
    if (this.queue.size >= MAX_QUEUED_OFFERS) this.queue.delete(this.queue.keys().next().value!)
    this.queue.set(body.taskId, { body, origin, at: this.c.now() })
    this.pump()
  }

  /** The task is held by someone (or done): stop waiting for it; abort a run that is not ours any more. */
  onAssigned (taskId: string, attempt: number, executor: string): void {
    const q = this.queue.get(taskId)
    if (q != null && q.body.attempt <= attempt) this.queue.delete(taskId)
    const r = this.running.get(taskId)
    if (r != null && executor !== this.c.self && attempt > r.attempt) r.abort.abort()
  }

  /** A revoked origin: drop its offers and stop its runs (no result goes to it). */
  onOriginRevoked (origin: string): void {
    for (const [id, o] of [...this.queue]) if (o.origin === origin) this.queue.delete(id)
    for (const [id, r] of this.running) if (r.origin === origin) { this.c.log.warn({ task: id, origin }, 'origin revoked: stopping its run'); r.abort.abort() }
    for (const [key, p] of [...this.pending]) if (p.origin === origin) { this.pending.delete(key); void this.c.db.del(key).catch(() => {}) }
  }

  onDone (taskId: string): void {
    this.queue.delete(taskId)
    this.running.get(taskId)?.abort.abort()
  }

  private pump (): void {
    while (!this.stopped && this.busy < this.init.slots && this.queue.size > 0) {
      const [taskId, offer] = this.queue.entries().next().value as [string, Offer]
      this.queue.delete(taskId)
      if (offer.body.deadline < this.c.now() || this.running.has(taskId)) continue
      if (offer.body.exclude.includes(this.c.self) && this.c.now() - offer.at < 1500) {
        // failed this task before: let others take it first, come back later
        setTimeout(() => { if (!this.queue.has(taskId)) { this.queue.set(taskId, { ...offer, at: offer.at - 1500 }); this.pump() } }, 1500)
        continue
      }
      this.reserved++
      const claim: Promise<void> = this.claim(offer)
        .catch((err) => { this.c.log.warn({ task: taskId, err: err.message }, 'run failed') })
        .finally(() => { this.claims.delete(claim); this.reserved--; this.pump() })
      this.claims.add(claim)
    }
  }

  private async claim (offer: Offer): Promise<void> {
    const { body, origin } = offer
    const bid = { taskId: body.taskId, attempt: body.attempt, freeSlots: Math.max(0, this.init.slots - this.busy), cached: body.skill != null ? await this.c.skills.isCached(body.skill.cid) : false, load: this.running.size / Math.max(1, this.init.slots) }
    let answer: ClaimAnswer
    try {
      answer = await this.c.client.claim(origin, bid)
    } catch (err: any) {
      this.c.metrics.taskClaims.inc({ result: 'error' })
      this.c.log.debug({ task: body.taskId, origin, err: err.message }, 'claim failed')
      return
    }
    this.c.metrics.taskClaims.inc({ result: answer.won ? 'won' : 'lost' })
    if (!answer.won) return
    if (this.stopped) return // won as the node stopped: the lease runs out and the task is offered again
    const abort = new AbortController()
    this.running.set(body.taskId, { attempt: body.attempt, origin, abort })
    this.c.metrics.executorRunning.set(this.running.size)
    try {
      await this.execute(offer, answer, abort)
    } finally {
      this.running.delete(body.taskId)
      this.c.metrics.executorRunning.set(this.running.size)
    }
  }

  private async execute (offer: Offer, won: ClaimAnswer & { won: true }, abort: AbortController): Promise<void> {
    const { body, origin } = offer
    const input = won.input
    const renew = setInterval(() => { void this.renew(origin, body.taskId, body.attempt, abort) }, this.init.renewMs)
    let result: TaskResultBody
    let fetchMs = 0
    try {
      // the skill is the origin's word in its signed answer (a federation offer named it too: they must agree)
      const skill = won.skill
      if (body.skill != null && body.skill.cid !== skill.cid) throw new Error(`the origin offered ${body.skill.cid} but assigned ${skill.cid}`)
      if (!this.c.trust.trustsAuthor(skill.author)) throw new Error(`untrusted skill author ${skill.author}: this executor does not run ${skill.name}@${skill.version}`)
      const t0 = performance.now()
      await this.c.skills.fetch(skill.cid, { signal: abort.signal })
      // the blob store hashes the bytes again as it reads them: what runs is what was verified
      const bundle = await this.c.skills.verifiedBundle(skill.cid)
      fetchMs = performance.now() - t0
      // the origin's wish, capped by what the manifest asks and this node's own policy
      const limits = runLimits(this.c.runner.options, bundleManifest(bundle).resources, won.resources)
      const run = await this.c.runner.run({ bundle }, input, limits, { signal: abort.signal })
      result = { taskId: body.taskId, attempt: body.attempt, status: run.status, output: run.status === 'succeeded' ? run.output : null, error: run.error ?? null, timings: { fetchMs: Math.round(fetchMs), sandboxMs: run.durationMs }, ...(run.stderrTail !== '' ? { stderrTail: run.stderrTail.slice(-RESULT_STDERR_TAIL_CHARS) } : {}) }
    } catch (err: any) {
      result = { taskId: body.taskId, attempt: body.attempt, status: 'error', output: null, error: String(err.message ?? err).slice(0, 4000), timings: { fetchMs: Math.round(fetchMs), sandboxMs: 0 } }
    } finally {
      clearInterval(renew)
    }
    if (abort.signal.aborted && result.status !== 'succeeded') {
      this.c.log.info({ task: body.taskId, attempt: body.attempt }, 'run stopped: the task moved on without us')
      return
    }
    const envelope = await this.c.client.sealResult(result)
    const key = `r!${body.taskId}!${body.attempt}`
    const pending: PendingResult = { origin, envelope, deadline: body.deadline, tries: 0 }
    await this.c.db.put(key, encodeCanonical(pending))
    // stopping: the result is kept and delivered after the restart, not now against the clock
    if (this.stopped) return
    this.pending.set(key, pending)
    await this.deliver(key, pending)
  }

  private async renew (origin: string, taskId: string, attempt: number, abort: AbortController): Promise<void> {
    try {
      const res = await this.c.client.renew(origin, taskId, attempt, this.init.renewMs)
      if (!res.ok) {
        this.c.log.info({ task: taskId, attempt, reason: (res as { reason?: string }).reason }, 'lease lost: stopping the run')
        abort.abort()
      }
    } catch (err: any) {
      // origin unreachable: keep running; the result is kept and delivered when it is back
      this.c.log.debug({ task: taskId, err: err.message }, 'lease renewal failed')
    }
  }

  private async deliver (key: string, p: PendingResult): Promise<void> {
    p.tries++
    try {
      const ack = await this.c.client.deliver(p.origin, p.envelope)
      this.c.log.debug({ key, ack }, 'result delivered')
      this.pending.delete(key)
      await this.c.db.del(key)
    } catch (err: any) {
      if (this.c.now() > p.deadline + 60_000) {
        this.c.log.warn({ key, err: err.message }, 'giving up delivering a result: the task deadline passed')
        this.pending.delete(key)
        await this.c.db.del(key)
      } else {
        this.c.log.debug({ key, err: err.message, tries: p.tries }, 'result delivery failed; will retry')
      }
    }
  }

  private delivering = false

  private async deliverPending (): Promise<void> {
    if (this.delivering) return
    this.delivering = true
    try {
      for (const [key, p] of [...this.pending]) await this.deliver(key, p)
    } finally {
      this.delivering = false
    }
  }
}

import { createHash, randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import * as dagCbor from '@ipld/dag-cbor'
import {
  encodeCanonical, taskAssign, taskDone, taskOffer, TASK_INPUT_MAX_BYTES,
  type TaskClaimBody, type TaskResultBody
} from '../../protocol/index.js'
import { AasError } from '../../protocol/errors.js'
import { schemaProblem } from '../../skills/manifest/index.js'
import { effectiveLimits, type SandboxOptions } from '../../skills/sandbox/options.js'
import type { GossipRouter } from '../gossip/index.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import type { SkillIndex } from '../skills/skill-index.js'
import type { MemoryEngine } from './memory.js'
import type { TaskStore } from './store.js'
import { TERMINAL_STATES, type TaskRecord, type TaskSpec, type TaskState } from './types.js'

/**
 * The origin of the tasks submitted to this node (DESIGN.md "Task lifecycle"): it stores each
 * task before anything else, gossips the offer, collects bids that executors send it over a
 * stream during a short window, assigns one with a lease (and gossips the assignment), renews
 * or revokes leases, accepts the first valid result and gossips the completion. A lost lease
 * or a failed run becomes the next attempt, without the executor that failed while others can
 * take it. Open tasks survive a restart: they are reloaded and driven on from their state.
 */
export class SubmitError extends AasError {
  constructor (message: string, code: 'ERR_UNKNOWN_SKILL' | 'ERR_INVALID_INPUT' | 'ERR_INPUT_TOO_LARGE' | 'ERR_BAD_SUBMISSION') {
    super(message, code)
    this.name = 'SubmitError'
  }
}

export interface SubmitRequest {
  skill: string
  input: unknown
  timeoutS?: number
  attempts?: number
}

export interface OriginInit {
  leaseMs: number
  bidWindowMs: number
  /** Re-gossip an offer nobody has claimed after this long (lost gossip, busy mesh). */
  reofferMs: number
  defaultTimeoutS: number
  defaultAttempts: number
  sandbox: SandboxOptions
}

export interface OriginComponents {
  self: string
  store: TaskStore
  index: SkillIndex
  gossip: GossipRouter
  memory: MemoryEngine
  metrics: Metrics
  log: Logger
  /** The local executor, which never hears its own node's gossip: offers, assignments, completions. */
  localOffer?: (t: TaskRecord) => void
  localAssigned?: (t: TaskRecord) => void
  localDone?: (t: TaskRecord) => void
}

export type ClaimAnswer = { won: true, input: unknown, leaseUntil: number, deadline: number } | { won: false, reason: string }

interface Window { bids: Array<{ from: string, claim: TaskClaimBody, answer: (a: ClaimAnswer) => void }>, timer: NodeJS.Timeout }

/**
 * Where a later issue hooks in tier escalation and the human review queue: called when a
 * task has no way left to succeed here. Returning true means it was taken over (the task
 * stays open); false lets it fail.
 */
export type EscalationHook = (task: TaskRecord, reason: string) => Promise<boolean>

export class TaskOrigin {
  private readonly windows = new Map<string, Window>()
  private readonly watchers = new Map<string, Set<(t: TaskRecord) => void>>()
  private ticker: NodeJS.Timeout | undefined
  escalate: EscalationHook = async () => false
  /**
   * Every change of task state runs one at a time: a result arriving while the tick finds the
   * same lease expired must not interleave with it (the result would be recorded and the task
   * re-offered anyway).
   */
  private chain: Promise<unknown> = Promise.resolve()

  private serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn)
    this.chain = run.catch(() => {})
    return run
  }

  constructor (private readonly c: OriginComponents, private readonly init: OriginInit) {}

  async start (): Promise<void> {
    const n = await this.c.store.load()
    if (n > 0) this.c.log.info({ open: n }, 'resuming open tasks')
    const now = Date.now()
    for (const t of this.c.store.open.values()) {
      // an offer out before the restart may be gone: offer again at once
      if (t.state === 'offered') t.lastOfferAt = 0
      // executors could not renew while this node was down: give them a lease's time to
      // renew or deliver before their attempt counts as lost
      if (t.state === 'assigned') t.leaseUntil = Math.max(t.leaseUntil ?? 0, now + this.init.leaseMs)
    }
    this.updateStateGauge()
    this.ticker = setInterval(() => { void this.tick() }, 250)
  }

  stop (): void {
    clearInterval(this.ticker)
    for (const w of this.windows.values()) clearTimeout(w.timer)
    this.windows.clear()
  }

  /** Checks and stores a task, then offers it; returns its id. Nothing is stored on any error. */
  async submit (req: SubmitRequest, submitter: string): Promise<TaskRecord> {
    if (typeof req?.skill !== 'string' || req.skill === '') throw new SubmitError('a task needs a skill: NAME, NAME@RANGE or a CID', 'ERR_BAD_SUBMISSION')
    const timeoutS = req.timeoutS ?? this.init.defaultTimeoutS
    const attempts = req.attempts ?? this.init.defaultAttempts
    if (!Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > 86_400) throw new SubmitError(`timeout must be 1 to 86400 seconds, not ${String(timeoutS)}`, 'ERR_BAD_SUBMISSION')
    if (!Number.isInteger(attempts) || attempts < 1 || attempts > 20) throw new SubmitError(`attempts must be 1 to 20, not ${String(attempts)}`, 'ERR_BAD_SUBMISSION')
    const entry = this.c.index.resolve(req.skill)
    if (entry == null) throw new SubmitError(`no trusted skill release matches "${req.skill}": publish it, or check the name with "aas skill search"`, 'ERR_UNKNOWN_SKILL')
    if (req.input === undefined) throw new SubmitError('a task needs an input (JSON)', 'ERR_BAD_SUBMISSION')
    const inputBytes = Buffer.byteLength(JSON.stringify(req.input))
    if (inputBytes > TASK_INPUT_MAX_BYTES) throw new SubmitError(`input is ${inputBytes} bytes, over the ${TASK_INPUT_MAX_BYTES} byte limit`, 'ERR_INPUT_TOO_LARGE')
    const problem = schemaProblem(entry.manifest.inputSchema as object | undefined, req.input)
    if (problem != null) throw new SubmitError(`input does not match ${entry.release.name}'s input schema: ${problem}`, 'ERR_INVALID_INPUT')
    const { release } = entry
    const now = Date.now()
    const resources = effectiveLimits(this.init.sandbox, entry.manifest.resources as Record<string, number> | undefined)
    const spec: TaskSpec = {
      skill: { name: release.name, version: release.version, cid: release.cid, author: release.author },
      input: req.input,
      timeoutS,
      attempts,
      submitter,
      submittedAt: now,
      resources
    }
    const id = taskId(spec)
    const t: TaskRecord = {
      id, spec, state: 'offered', attempt: 1, executor: null, leaseUntil: null, exclude: [],
      deadline: now + timeoutS * 1000, offeredAt: now, lastOfferAt: now, reoffers: 0, output: null, error: null,
      attemptsLog: [], history: [{ at: now, state: 'offered', attempt: 1 }], completedAt: null, timings: null
    }
    await this.c.store.put(t)
    this.changed(t)
    await this.offer(t)
    return t
  }

  async get (id: string): Promise<TaskRecord | undefined> {
    return await this.c.store.get(id)
  }

  /** Calls `fn` on every change of the task until it is terminal; returns an unsubscribe. */
  watch (id: string, fn: (t: TaskRecord) => void): () => void {
    let set = this.watchers.get(id)
    if (set == null) { set = new Set(); this.watchers.set(id, set) }
    set.add(fn)
    return () => { set.delete(fn); if (set.size === 0) this.watchers.delete(id) }
  }

  async cancel (id: string): Promise<TaskRecord | undefined> {
    return await this.serial(async () => await this.cancelNow(id))
  }

  private async cancelNow (id: string): Promise<TaskRecord | undefined> {
    const t = this.c.store.open.get(id)
    if (t == null) return await this.c.store.get(id)
    await this.finish(t, 'cancelled', { error: 'cancelled by the submitter' })
    return t
  }

  private async offer (t: TaskRecord): Promise<void> {
    t.lastOfferAt = Date.now()
    const body = {
      taskId: t.id,
      attempt: t.attempt,
      skill: t.spec.skill,
      inputBytes: Buffer.byteLength(JSON.stringify(t.spec.input)),
      resources: t.spec.resources,
      deadline: t.deadline,
      exclude: t.exclude
    }
    this.c.localOffer?.(t)
    await this.c.gossip.publish(taskOffer, body).catch((err) => {
      // no peers subscribed yet: the tick offers again
      this.c.log.debug({ task: t.id, err: err.message }, 'offer not gossiped')
    })
  }

  /** A bid from an executor (over a stream, or the local executor). Answers when the window closes. */
  async claim (claim: TaskClaimBody, from: string): Promise<ClaimAnswer> {
    const t = this.c.store.open.get(claim.taskId)
    if (t == null) return { won: false, reason: 'no such open task' }
    if (t.state !== 'offered' || claim.attempt !== t.attempt) return { won: false, reason: 'already assigned' }
    if (t.exclude.includes(from) && Date.now() - t.offeredAt < 2 * this.init.bidWindowMs + 1000) return { won: false, reason: 'excluded: failed an earlier attempt' }
    t.history.push({ at: Date.now(), state: 'bid', attempt: t.attempt, executor: from })
    return await new Promise<ClaimAnswer>((resolve) => {
      let w = this.windows.get(t.id)
      if (w == null) {
        w = { bids: [], timer: setTimeout(() => { void this.serial(async () => { await this.closeWindow(t.id) }) }, this.init.bidWindowMs) }
        this.windows.set(t.id, w)
      }
      w.bids.push({ from, claim, answer: resolve })
    })
  }

  private async closeWindow (id: string): Promise<void> {
    const w = this.windows.get(id)
    this.windows.delete(id)
    if (w == null) return
    const t = this.c.store.open.get(id)
    if (t == null || t.state !== 'offered') {
      for (const b of w.bids) b.answer({ won: false, reason: 'no longer offered' })
      return
    }
    // best bid: the skill already cached, then most free slots, then least load; ties by a hash
    const score = (b: Window['bids'][number]): number => (b.claim.cached ? 100 : 0) + Math.min(b.claim.freeSlots, 16) - b.claim.load
    const tie = (peer: string): string => createHash('sha256').update(`${id}/${peer}`).digest('hex')
    const best = [...w.bids].sort((a, b) => score(b) - score(a) || tie(a.from).localeCompare(tie(b.from)))[0]
    const now = Date.now()
    t.state = 'assigned'
    t.executor = best.from
    t.leaseUntil = now + this.init.leaseMs
    t.attemptsLog.push({ attempt: t.attempt, executor: best.from, assignedAt: now })
    t.history.push({ at: now, state: 'assigned', attempt: t.attempt, executor: best.from })
    await this.c.store.put(t)
    this.changed(t)
    for (const b of w.bids) {
      const won = b === best
      this.c.metrics.taskBids.inc({ result: won ? 'won' : 'lost' })
      b.answer(won ? { won: true, input: t.spec.input, leaseUntil: t.leaseUntil, deadline: t.deadline } : { won: false, reason: 'another executor won' })
    }
    this.c.localAssigned?.(t)
    await this.c.gossip.publish(taskAssign, { taskId: t.id, attempt: t.attempt, executor: best.from, leaseUntil: t.leaseUntil }).catch(() => {})
  }

  /** Lease renewal by the executor holding the attempt. */
  async renew (taskId: string, attempt: number, from: string): Promise<{ ok: boolean, leaseUntil?: number, reason?: string }> {
    return await this.serial(async () => await this.renewNow(taskId, attempt, from))
  }

  private async renewNow (taskId: string, attempt: number, from: string): Promise<{ ok: boolean, leaseUntil?: number, reason?: string }> {
    const t = this.c.store.open.get(taskId)
    if (t == null) return { ok: false, reason: 'task is finished' }
    if (t.state !== 'assigned' || t.attempt !== attempt || t.executor !== from) return { ok: false, reason: 'lease lost' }
    t.leaseUntil = Date.now() + this.init.leaseMs
    await this.c.store.put(t)
    return { ok: true, leaseUntil: t.leaseUntil }
  }

  /** A result from an executor: the first valid one completes the task. */
  async result (r: TaskResultBody, from: string): Promise<{ accepted: boolean, reason?: string }> {
    return await this.serial(async () => await this.resultNow(r, from))
  }

  private async resultNow (r: TaskResultBody, from: string): Promise<{ accepted: boolean, reason?: string }> {
    const t = this.c.store.open.get(r.taskId) ?? await this.c.store.get(r.taskId)
    if (t == null) return { accepted: false, reason: 'unknown task' }
    const held = t.attemptsLog.find(a => a.attempt === r.attempt && a.executor === from)
    if (held == null) return { accepted: false, reason: 'this executor did not hold that attempt' }
    const now = Date.now()
    if (TERMINAL_STATES.has(t.state)) {
      t.history.push({ at: now, state: 'late-result', attempt: r.attempt, executor: from, detail: `${r.status}; task already ${t.state}` })
      await this.c.store.put(t)
      this.c.metrics.taskLateResults.inc()
      return { accepted: false, reason: `duplicate: task already ${t.state}` }
    }
    if (held.status != null && held.status !== 'lease-expired') return { accepted: false, reason: 'duplicate: this attempt already reported' }
    held.timings = r.timings
    if (held.status === 'lease-expired') {
      // keep why the attempt ended; the late run's outcome goes in the error
      held.error = `ran after its lease expired: ${r.status}${r.error != null ? `: ${r.error}` : ''}`
    } else {
      held.endedAt = now
      held.status = r.status
      if (r.error != null) held.error = r.error
    }
    t.history.push({ at: now, state: 'result', attempt: r.attempt, executor: from, detail: r.status })
    this.c.metrics.sandboxRunSeconds.observe({ status: r.status }, r.timings.sandboxMs / 1000)
    await this.c.memory.record(t.spec.skill.cid, t.spec.input, r.status === 'succeeded', r.timings.sandboxMs)
    if (r.status === 'succeeded') {
      t.executor = from
      const assigned = held.assignedAt
      t.timings = {
        offerToAssignMs: Math.max(0, assigned - t.offeredAt),
        fetchMs: r.timings.fetchMs,
        sandboxMs: r.timings.sandboxMs,
        resultMs: Math.max(0, now - assigned - r.timings.fetchMs - r.timings.sandboxMs)
      }
      await this.finish(t, 'succeeded', { output: r.output })
      return { accepted: true }
    }
    // a failed run counts as an attempt; from the holder of the current attempt, go on
    if (t.state === 'assigned' && t.attempt === r.attempt && t.executor === from) await this.nextAttempt(t, `attempt ${r.attempt} ${r.status}: ${r.error ?? ''}`.trim(), from)
    else await this.c.store.put(t)
    return { accepted: true }
  }

  private async nextAttempt (t: TaskRecord, reason: string, failed: string | null): Promise<void> {
    if (failed != null && !t.exclude.includes(failed)) t.exclude.push(failed)
    if (t.attemptsLog.length >= t.spec.attempts) {
      await this.exhausted(t, `attempts spent (${t.attemptsLog.length} of ${t.spec.attempts}); last: ${reason}`)
      return
    }
    t.attempt++
    t.state = 'offered'
    t.offeredAt = Date.now()
    t.reoffers = 0
    t.executor = null
    t.leaseUntil = null
    t.history.push({ at: Date.now(), state: 'offered', attempt: t.attempt, detail: reason })
    await this.c.store.put(t)
    this.changed(t)
    await this.offer(t)
  }

  private async exhausted (t: TaskRecord, reason: string): Promise<void> {
    if (await this.escalate(t, reason)) return
    await this.finish(t, 'failed', { error: reason })
  }

  private async finish (t: TaskRecord, state: TaskState & ('succeeded' | 'failed' | 'cancelled'), o: { output?: unknown, error?: string }): Promise<void> {
    const now = Date.now()
    const w = this.windows.get(t.id)
    if (w != null) { clearTimeout(w.timer); this.windows.delete(t.id); for (const b of w.bids) b.answer({ won: false, reason: `task ${state}` }) }
    t.state = state
    t.output = o.output ?? null
    t.error = o.error ?? null
    t.leaseUntil = null
    t.completedAt = now
    t.history.push({ at: now, state, attempt: t.attempt, executor: t.executor ?? undefined, detail: o.error })
    await this.c.store.put(t)
    if (state === 'succeeded') this.c.metrics.taskSubmitToResultSeconds.observe((now - t.spec.submittedAt) / 1000)
    this.c.metrics.taskAttempts.observe(t.attemptsLog.length)
    this.c.metrics.tasksFinished.inc({ state })
    this.changed(t)
    this.c.localDone?.(t)
    await this.c.gossip.publish(taskDone, { taskId: t.id, state, executor: state === 'succeeded' ? t.executor : null }).catch(() => {})
  }

  private changed (t: TaskRecord): void {
    this.updateStateGauge()
    for (const fn of this.watchers.get(t.id) ?? []) fn(t)
  }

  private updateStateGauge (): void {
    const counts: Record<string, number> = { offered: 0, assigned: 0 }
    for (const t of this.c.store.open.values()) counts[t.state] = (counts[t.state] ?? 0) + 1
    for (const [state, n] of Object.entries(counts)) this.c.metrics.tasksOpen.set({ state }, n)
  }

  private ticking = false

  private reofferDelay (t: TaskRecord): number {
    return Math.min(this.init.reofferMs * 2 ** (t.reoffers ?? 0), 120_000)
  }

  /** Deadlines, lease expiries and offers nobody claimed. */
  private async tick (): Promise<void> {
    if (this.ticking) return
    this.ticking = true
    await this.serial(async () => { await this.tickNow() })
  }

  private async tickNow (): Promise<void> {
    try {
      const now = Date.now()
      for (const t of [...this.c.store.open.values()]) {
        if (now > t.deadline) {
          await this.exhausted(t, t.attemptsLog.length === 0 ? 'no executor took it before the deadline' : `deadline passed (attempt ${t.attempt})`)
        } else if (t.state === 'assigned' && t.leaseUntil != null && now > t.leaseUntil) {
          this.c.metrics.taskLeaseExpiries.inc()
          const held = t.attemptsLog.find(a => a.attempt === t.attempt && a.executor === t.executor)
          if (held != null) { held.status = 'lease-expired'; held.endedAt = now }
          t.history.push({ at: now, state: 'lease-expired', attempt: t.attempt, executor: t.executor ?? undefined })
          this.c.log.info({ task: t.id, attempt: t.attempt, executor: t.executor }, 'lease expired: offering the next attempt')
          await this.nextAttempt(t, `lease of attempt ${t.attempt} expired`, t.executor)
        } else if (t.state === 'offered' && !this.windows.has(t.id) && now - (t.lastOfferAt ?? 0) > this.reofferDelay(t)) {
          // executors keep offers they could not bid for yet, so an offer is repeated only in
          // case it was lost, with exponential backoff: gossip per task stays near constant
          t.reoffers = (t.reoffers ?? 0) + 1
          t.history.push({ at: now, state: 're-offered', attempt: t.attempt })
          await this.offer(t)
        }
      }
    } catch (err) {
      this.c.log.warn({ err }, 'task tick failed')
    } finally {
      this.ticking = false
    }
  }
}

/** The task id: the CID of the canonical spec plus a random salt (two equal submissions are two tasks). */
function taskId (spec: TaskSpec): string {
  const bytes = encodeCanonical({ ...spec, input: JSON.stringify(spec.input), salt: randomBytes(8) })
  return CID.createV1(dagCbor.code, Digest.create(sha256.code, createHash('sha256').update(bytes).digest())).toString()
}

import { schemaProblem } from '../../skills/manifest/index.js'
import type { AuditLog } from '../audit/index.js'
import { personActor } from '../auth/index.js'
import type { Metrics } from '../metrics.js'
import {
  claimHold, rejectTask, releaseHold, resolveTask, taskView, tierOf,
  type TaskFix, type TaskOrigin, type TaskRecord, type TaskStore, type SkillResolver
} from '../tasks/index.js'
import { ReviewError, ReviewErrorCode } from './errors.js'
import { defaultReviewQueueOptions, type ReviewQueueOptions } from './options.js'

/**
 * The origin's human review queue (DESIGN.md "Human fallback"): the tasks no tier of agents
 * could finish, oldest first. A reviewer claims one (a hold that expires, so two people never
 * work one task), looks at it, and resolves it with an answer the skill's output schema
 * accepts, an annotation and whether the answer may be reused — or rejects it. Every view and
 * every action is audited with the person; a refused action too.
 */
export { defaultReviewQueueOptions, type ReviewQueueOptions } from './options.js'

export interface ReviewQueueComponents {
  origin: Pick<TaskOrigin, 'run' | 'get'>
  store: Pick<TaskStore, 'open' | 'get'>
  index: SkillResolver
  audit: Pick<AuditLog, 'append'>
  metrics: Metrics | null
  now: () => number
}

export interface ReviewItem {
  id: string
  skill: string
  cause: string
  reason: string
  since: number
  ageS: number
  holder: string | null
  holdUntil: number | null
  attempts: number
  tier: number
}

export { personActor }

export class ReviewQueue {
  private readonly opts: ReviewQueueOptions

  constructor (private readonly c: ReviewQueueComponents, opts: Partial<ReviewQueueOptions> = {}) {
    this.opts = { ...defaultReviewQueueOptions, ...opts }
  }

  get options (): ReviewQueueOptions { return this.opts }

  /** Tasks waiting for a person, oldest first. */
  list (): ReviewItem[] {
    const now = this.c.now()
    return [...this.c.store.open.values()]
      .filter(t => t.state === 'needs-review' && t.review != null)
      .map(t => {
        const r = t.review!
        const held = r.holder != null && (r.holdUntil ?? 0) >= now
        return {
          id: t.id,
          skill: `${t.spec.skill.name}@${t.spec.skill.version}`,
          cause: r.cause,
          reason: r.reason,
          since: r.since,
          ageS: Math.max(0, Math.round((now - r.since) / 1000)),
          holder: held ? r.holder : null,
          holdUntil: held ? r.holdUntil : null,
          attempts: t.attemptsLog.length,
          tier: tierOf(t)
        }
      })
      .sort((a, b) => a.since - b.since)
  }

  get depth (): number {
    let n = 0
    for (const t of this.c.store.open.values()) if (t.state === 'needs-review') n++
    return n
  }

  /** One task as a reviewer sees it: skill, input, every attempt; the view is audited. */
  async show (id: string, person: string): Promise<Record<string, unknown>> {
    const t = await this.c.store.get(id)
    if (t == null) throw new ReviewError(`no task ${id} on this node`, ReviewErrorCode.NOT_FOUND)
    await this.c.audit.append({ action: 'review.viewed', subject: id, actor: personActor(person), details: { state: t.state } })
    const entry = this.c.index.resolve(t.spec.skill.cid)
    return { ...taskView(t), input: t.spec.input, outputSchema: entry?.manifest.outputSchema ?? null, description: entry?.manifest.description ?? null }
  }

  async claim (id: string, person: string): Promise<TaskRecord> {
    return await this.act(id, person, 'claim', async (ctx, t) => {
      const r = t.review!
      if (r.holder != null && r.holder !== personActor(person) && (r.holdUntil ?? 0) >= this.c.now()) {
        throw new ReviewError(`task ${id} is held by ${r.holder.replace(/^user:/, '')} until ${new Date(r.holdUntil ?? 0).toISOString()}`, ReviewErrorCode.HELD, r.holder, r.holdUntil ?? undefined)
      }
      return await claimHold(ctx, t, personActor(person), this.opts.holdMs)
    })
  }

  async release (id: string, person: string): Promise<TaskRecord> {
    return await this.act(id, person, 'release', async (ctx, t) => {
      this.mustHold(t, person)
      return await releaseHold(ctx, t, personActor(person), 'released')
    })
  }

  /**
   * Resolves a task with an answer; `fix` (optional, `{input: {field: value}}`) says how the
   * input should have been: merged over it, it must match the skill's input schema, and it is
   * kept for the same failure on later tasks (the SelfImprover's fix hints).
   */
  async resolve (id: string, person: string, answer: { output?: unknown, annotation?: unknown, reuse?: unknown, fix?: unknown }): Promise<TaskRecord> {
    const annotation = this.note(answer.annotation, 'annotation', false)
    if (answer.output === undefined) throw new ReviewError('a resolution needs an output (JSON)', ReviewErrorCode.BAD_REQUEST)
    return await this.act(id, person, 'resolve', async (ctx, t) => {
      this.mustHold(t, person)
      const manifest = this.c.index.resolve(t.spec.skill.cid)?.manifest
      const problem = schemaProblem(manifest?.outputSchema as object | undefined, answer.output)
      if (problem != null) throw new ReviewError(`the answer does not match ${t.spec.skill.name}'s output schema: ${problem}`, ReviewErrorCode.INVALID_OUTPUT)
      const fix = answer.fix == null ? undefined : checkFix(t, answer.fix, manifest?.inputSchema as object | undefined)
      const done = await resolveTask(ctx, t, personActor(person), { output: answer.output, annotation, reuse: answer.reuse === true, ...(fix != null ? { fix } : {}) })
      this.c.metrics?.reviewSeconds.observe({ decision: 'resolved' }, (this.c.now() - (t.review?.since ?? this.c.now())) / 1000)
      return done
    })
  }

  async reject (id: string, person: string, reason: unknown): Promise<TaskRecord> {
    const why = this.note(reason, 'reason', true)
    return await this.act(id, person, 'reject', async (ctx, t) => {
      this.mustHold(t, person)
      const done = await rejectTask(ctx, t, personActor(person), why)
      this.c.metrics?.reviewSeconds.observe({ decision: 'rejected' }, (this.c.now() - (t.review?.since ?? this.c.now())) / 1000)
      return done
    })
  }

  /** Runs one action in turn with every other task change; a refusal is audited and thrown. */
  private async act (id: string, person: string, what: string, fn: (ctx: Parameters<Parameters<TaskOrigin['run']>[0]>[0], t: TaskRecord) => Promise<TaskRecord>): Promise<TaskRecord> {
    try {
      return await this.c.origin.run(async (ctx) => {
        const t = ctx.store.open.get(id) ?? await ctx.store.get(id)
        if (t == null) throw new ReviewError(`no task ${id} on this node`, ReviewErrorCode.NOT_FOUND)
        if (t.state !== 'needs-review' || t.review == null) throw new ReviewError(`task ${id} is ${t.state}, not waiting for review`, ReviewErrorCode.NOT_IN_REVIEW)
        return await fn(ctx, t)
      })
    } catch (err) {
      if (err instanceof ReviewError) {
        await this.c.audit.append({ action: 'review.refused', subject: id, actor: personActor(person), details: { action: what, code: err.code } }).catch(() => {})
      }
      throw err
    }
  }

  private mustHold (t: TaskRecord, person: string): void {
    const r = t.review!
    if (r.holder === personActor(person) && (r.holdUntil ?? 0) >= this.c.now()) return
    if (r.holder != null && (r.holdUntil ?? 0) >= this.c.now()) throw new ReviewError(`task ${t.id} is held by ${r.holder.replace(/^user:/, '')}`, ReviewErrorCode.HELD, r.holder, r.holdUntil ?? undefined)
    throw new ReviewError(`claim task ${t.id} first: only the reviewer holding a task may decide it`, ReviewErrorCode.HOLD_REQUIRED)
  }

  private note (v: unknown, what: string, required: boolean): string {
    if (v == null || v === '') {
      if (required) throw new ReviewError(`a ${what} is required`, ReviewErrorCode.BAD_REQUEST)
      return ''
    }
    if (typeof v !== 'string') throw new ReviewError(`the ${what} must be text`, ReviewErrorCode.BAD_REQUEST)
    if (v.length > this.opts.maxNoteChars) throw new ReviewError(`the ${what} is over ${this.opts.maxNoteChars} characters`, ReviewErrorCode.BAD_REQUEST)
    return v
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v != null && typeof v === 'object' && !Array.isArray(v)

/**
 * A reviewer's fix, checked: `{input: {field: value, …}}` (JSON), for a task whose input is an
 * object and that failed a run (the failure it is tied to), the input with it matching the
 * skill's input schema. Throws ReviewError INVALID_FIX saying what is wrong.
 */
export function checkFix (t: TaskRecord, fix: unknown, inputSchema: object | undefined): TaskFix {
  const bad = (why: string): ReviewError => new ReviewError(`the fix ${why}`, ReviewErrorCode.INVALID_FIX)
  if (!isObject(fix) || Object.keys(fix).some(k => k !== 'input') || !isObject(fix.input)) throw bad('must be {"input": {"field": value, …}}')
  if (Object.keys(fix.input).length === 0) throw bad('changes no field: give at least one in "input"')
  if (JSON.stringify(fix).length > 16_384) throw bad('is over 16384 bytes of JSON')
  if (!isObject(t.spec.input)) throw bad('needs a task whose input is a JSON object')
  if (!t.attemptsLog.some(a => a.status != null && a.status !== 'succeeded' && a.status !== 'lease-expired')) throw bad('needs a failed run to tie it to: this task has none')
  const problem = schemaProblem(inputSchema, { ...t.spec.input, ...fix.input })
  if (problem != null) throw bad(`makes an input that does not match ${t.spec.skill.name}'s input schema: ${problem}`)
  return { input: JSON.parse(JSON.stringify(fix.input)) }
}

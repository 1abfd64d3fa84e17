import { createHash } from 'node:crypto'
import semver from 'semver'
import { decodeCanonical, encodeCanonical } from '../../protocol/index.js'
import type { AuditLog } from '../audit/index.js'
import type { Metrics } from '../metrics.js'
import { Bucket, type NodeStore } from '../store/index.js'
import type { TaskEvent, TaskFix, TaskRecord } from '../tasks/index.js'

/**
 * The SelfImprover's rule 4, fix hints: a reviewer who resolves a task may say how its input
 * should have been (`fix: {input: {field: value}}`, merged over the input and checked against
 * the skill's input schema). The fix is kept under the task's failure signature — skill name,
 * major version, the run's status and its error with the particulars (numbers, ids, quoted
 * values) taken out — so when the same failure comes back on a later task, the origin retries
 * it once with the fix before it asks a person. Each such retry is counted (one that ran out of
 * time or memory says nothing of the fix); a fix that fails `maxFailures` times in a row is
 * retired (audited) and not applied again. A later fix for the same signature replaces it.
 */
export interface FixHint {
  signature: string
  skill: string
  major: number
  fix: TaskFix
  /** The task whose review gave it, and who. */
  review: string
  resolvedBy: string
  at: number
  applied: number
  succeeded: number
  failed: number
  failedInARow: number
  retired: { at: number, reason: string } | null
}

export interface FixHintsOptions {
  /** A fix that fails this many retries in a row is no longer applied. */
  maxFailures: number
}

export const defaultFixHintsOptions: FixHintsOptions = { maxFailures: 3 }

export interface FixHintsComponents {
  store: Pick<NodeStore, 'sublevel' | 'write'>
  audit: Pick<AuditLog, 'append'> | null
  metrics: Metrics | null
  now: () => number
}

/** A run's error with its particulars taken out: what stays is the kind of failure. */
export function normaliseError (error: string): string {
  return error
    .toLowerCase()
    .replace(/(["'`]).*?\1/g, '…')
    .replace(/\b(0x)?[0-9a-f]{8,}\b/g, '#')
    .replace(/\d+(\.\d+)?/g, '#')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200)
}

/** `name@major|status|normalised error`. */
export function failureSignature (skill: { name: string, version: string }, status: string, error: string | null | undefined): string {
  return `${skill.name}@${semver.major(skill.version)}|${status}|${normaliseError(error ?? '')}`
}

/** The signature of the last failed run of a task (a lost lease is no run's failure), if any. */
export function lastFailure (t: TaskRecord): string | undefined {
  const a = [...t.attemptsLog].reverse().find(x => x.status != null && x.status !== 'succeeded' && x.status !== 'lease-expired')
  return a == null ? undefined : failureSignature(t.spec.skill, a.status!, a.error)
}

/** How a retry may end that says nothing of the fix: the executor's limits ran out. */
const NOT_THE_FIX = new Set(['timeout', 'oom', 'killed'])

const key = (signature: string): string => `f!${createHash('sha256').update(signature).digest('hex')}`

export class FixHints {
  private readonly opts: FixHintsOptions
  private readonly hints = new Map<string, FixHint>()

  constructor (private readonly c: FixHintsComponents, opts: Partial<FixHintsOptions> = {}) {
    this.opts = { ...defaultFixHintsOptions, ...opts }
  }

  async load (): Promise<void> {
    for await (const [, v] of this.c.store.sublevel(Bucket.learned).iterator({ gte: 'f!', lt: 'f!\xff' })) {
      const h = decodeCanonical(v) as FixHint
      this.hints.set(h.signature, h)
    }
  }

  /** The fix for a failure signature, unless retired. */
  find (signature: string): FixHint | undefined {
    const h = this.hints.get(signature)
    return h != null && h.retired == null ? h : undefined
  }

  list (skill?: string): FixHint[] {
    return [...this.hints.values()].filter(h => skill == null || h.skill === skill).sort((a, b) => b.at - a.at)
  }

  /** Keeps a reviewer's fix (on `resolved`), and counts each retry it was applied to (on its attempt's result). */
  readonly listener = (e: TaskEvent): void => {
    const t = e.task
    if (e.kind === 'resolved' && t.review?.fix != null && t.review.resolvedBy != null) {
      const signature = lastFailure(t)
      if (signature == null) return
      const h: FixHint = {
        signature,
        skill: t.spec.skill.name,
        major: semver.major(t.spec.skill.version),
        fix: t.review.fix,
        review: t.id,
        resolvedBy: t.review.resolvedBy,
        at: e.at,
        applied: 0,
        succeeded: 0,
        failed: 0,
        failedInARow: 0,
        retired: null
      }
      // applied once written and audited
      void this.write(h)
        .then(async () => { await this.c.audit?.append({ action: 'learned.fix-kept', subject: t.id, actor: h.resolvedBy, details: { signature, fields: Object.keys(h.fix.input) } }) })
        .then(() => { this.hints.set(signature, h) })
        .catch(() => {})
      return
    }
    if (e.kind === 'result' && t.fix != null && e.details.attempt === t.fix.attempt) {
      const h = this.hints.get(t.fix.signature)
      if (h == null || h.review !== t.fix.review || NOT_THE_FIX.has(String(e.details.status))) return
      const worked = e.details.status === 'succeeded'
      h.applied++
      if (worked) { h.succeeded++; h.failedInARow = 0 } else { h.failed++; h.failedInARow++ }
      this.c.metrics?.improverDecisions.inc({ rule: 'fix-hint', result: worked ? 'worked' : 'failed' })
      if (!worked && h.failedInARow >= this.opts.maxFailures && h.retired == null) {
        h.retired = { at: e.at, reason: `failed ${h.failedInARow} retries in a row` }
        void this.c.audit?.append({ action: 'learned.fix-retired', subject: h.review, details: { signature: h.signature, failed: h.failed, succeeded: h.succeeded } }).catch(() => {})
      }
      void this.put(h).catch(() => {})
    }
  }

  private async put (h: FixHint): Promise<void> {
    this.hints.set(h.signature, h)
    await this.write(h)
  }

  private async write (h: FixHint): Promise<void> {
    await this.c.store.write([{ type: 'put', bucket: Bucket.learned, key: key(h.signature), value: encodeCanonical(JSON.parse(JSON.stringify(h))) }], { sync: true })
  }
}

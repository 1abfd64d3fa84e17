import semver from 'semver'
import { decodeCanonical, encodeCanonical, type Release } from '../../protocol/index.js'
import type { AuditLog } from '../audit/index.js'
import type { Metrics } from '../metrics.js'
import { Bucket, type NodeStore } from '../store/index.js'
import type { TaskEvent } from '../tasks/index.js'

/**
 * The SelfImprover's rule 3, quarantine: a release whose failure rate over its last `window`
 * runs on this node rises clearly above the previous good release's (same name and author) is
 * quarantined here; submissions asking for a name or range then get the previous good release.
 *
 * "Clearly" is a statistical test, not a threshold on raw rates: the 95% Wilson score interval
 * of each failure rate, and the new release is quarantined only when the lower end of its
 * interval lies above the upper end of the previous release's — and only with at least
 * `minRuns` runs of the new release and `minPrevious` of the previous one. Two intervals that
 * do not overlap at 95% make a chance streak unlikely (a release failing 6 of 10 runs against
 * 0 of 5 is not quarantined; 10 of 10 is), and a release whose failures are its inputs' doing
 * — the previous one failed them as often — never is.
 *
 * A run that asked for a person or refused its input counts neither way (the input's doing); a
 * lost lease is the executor's. A quarantine ends when a newer release of the name and author
 * is indexed (the quarantined one stays out of the fallbacks: it was bad) or when an admin
 * lifts it (then it counts as good). Both, and the quarantine, are audited; the state is kept
 * in LevelDB.
 */
export interface QuarantineOptions {
  window: number
  minRuns: number
  minPrevious: number
}

export const defaultQuarantineOptions: QuarantineOptions = { window: 40, minRuns: 10, minPrevious: 5 }

export interface QuarantineRecord {
  cid: string
  name: string
  version: string
  author: string
  since: number
  reason: string
  evidence: Record<string, unknown>
  /** How it ended: `newer-release` (with the version), or the admin who lifted it. */
  lifted: { by: string, at: number, version?: string } | null
}

/** What quarantine needs of the skill index. */
export interface ReleaseIndex {
  versions: (name: string, author?: string) => Array<{ release: Release, manifest: Record<string, any> }>
  byContent: (cid: string) => { release: Release, manifest: Record<string, any> } | undefined
}

export interface QuarantineComponents {
  store: Pick<NodeStore, 'sublevel' | 'write'>
  index: ReleaseIndex
  audit: Pick<AuditLog, 'append'> | null
  metrics: Metrics | null
  now: () => number
}

const NEUTRAL = new Set(['needs-human', 'invalid-input'])
const healthKey = (cid: string): string => `h!${cid}`
const quarantineKey = (cid: string): string => `q!${cid}`

/** The 95% Wilson score interval of a proportion `k` of `n` ([0, 1] when n is 0). */
export function wilson (k: number, n: number, z = 1.96): { lower: number, upper: number } {
  if (n === 0) return { lower: 0, upper: 1 }
  const p = k / n
  const z2 = z * z
  const centre = p + z2 / (2 * n)
  const spread = z * Math.sqrt((p * (1 - p) + z2 / (4 * n)) / n)
  return { lower: Math.max(0, (centre - spread) / (1 + z2 / n)), upper: Math.min(1, (centre + spread) / (1 + z2 / n)) }
}

const round = (x: number): number => Math.round(x * 1000) / 1000

export class Quarantine {
  private readonly opts: QuarantineOptions
  /** cid → recent outcomes, oldest first: '1' success, '0' failure. */
  private readonly recent = new Map<string, string>()
  private readonly records = new Map<string, QuarantineRecord>()
  /** Being quarantined (written, then in force). */
  private readonly pending = new Set<string>()

  constructor (private readonly c: QuarantineComponents, opts: Partial<QuarantineOptions> = {}) {
    this.opts = { ...defaultQuarantineOptions, ...opts }
  }

  async load (): Promise<void> {
    const db = this.c.store.sublevel(Bucket.memory)
    for await (const [k, v] of db.iterator({ gte: 'h!', lt: 'h!\xff' })) this.recent.set(k.slice(2), decodeCanonical(v) as string)
    for await (const [k, v] of db.iterator({ gte: 'q!', lt: 'q!\xff' })) this.records.set(k.slice(2), decodeCanonical(v) as QuarantineRecord)
  }

  /** Failures and runs of a release in its window. */
  stats (cid: string): { failures: number, runs: number } {
    const r = this.recent.get(cid) ?? ''
    let failures = 0
    for (const ch of r) if (ch === '0') failures++
    return { failures, runs: r.length }
  }

  /** The quarantine of a release, in force or ended (a newer release ends it first). */
  status (cid: string): QuarantineRecord | undefined {
    const q = this.records.get(cid)
    if (q != null) this.sweep(q.name, q.author)
    return this.records.get(cid)
  }

  /** Whether a release is quarantined now. */
  active (cid: string): QuarantineRecord | undefined {
    const q = this.status(cid)
    return q != null && q.lifted == null ? q : undefined
  }

  /** Quarantines in force (and ended ones too, with `all`), newest first. */
  list (all = false): QuarantineRecord[] {
    for (const q of [...this.records.values()]) this.sweep(q.name, q.author)
    return [...this.records.values()].filter(q => all || q.lifted == null).sort((a, b) => b.since - a.since)
  }

  /** A release that may stand in for another: never quarantined, or cleared by an admin. */
  private good (cid: string): boolean {
    const q = this.records.get(cid)
    return q == null || (q.lifted != null && q.lifted.by !== 'newer-release')
  }

  /** The highest good release of the name and author below `version` (within `range`). */
  previousGood (name: string, author: string, version: string, range = '*'): { release: Release, manifest: Record<string, any> } | undefined {
    return this.c.index.versions(name, author).find(e =>
      semver.lt(e.release.version, version) && semver.satisfies(e.release.version, range, { includePrerelease: false }) && this.good(e.release.cid))
  }

  readonly listener = (e: TaskEvent): void => {
    if (e.kind !== 'result') return
    const status = String(e.details.status)
    if (NEUTRAL.has(status)) return
    const { cid } = e.task.spec.skill
    const next = ((this.recent.get(cid) ?? '') + (status === 'succeeded' ? '1' : '0')).slice(-this.opts.window)
    this.recent.set(cid, next)
    void this.c.store.write([{ type: 'put', bucket: Bucket.memory, key: healthKey(cid), value: encodeCanonical(next) }]).catch(() => {})
    if (status !== 'succeeded') void this.check(cid).catch(() => {})
  }

  /** Quarantines `cid` when its failure rate is clearly above the previous good release's. */
  async check (cid: string): Promise<QuarantineRecord | undefined> {
    // quarantined already (or being), or lifted once: an admin said it is fine, or a newer one replaced it
    if (this.records.has(cid) || this.pending.has(cid)) return undefined
    const entry = this.c.index.byContent(cid)
    if (entry == null) return undefined
    const r = entry.release
    const mine = this.stats(cid)
    if (mine.runs < this.opts.minRuns) return undefined
    const prev = this.previousGood(r.name, r.author, r.version)
    if (prev == null) return undefined
    const theirs = this.stats(prev.release.cid)
    if (theirs.runs < this.opts.minPrevious) return undefined
    const a = wilson(mine.failures, mine.runs)
    const b = wilson(theirs.failures, theirs.runs)
    if (a.lower <= b.upper) return undefined
    const q: QuarantineRecord = {
      cid,
      name: r.name,
      version: r.version,
      author: r.author,
      since: this.c.now(),
      reason: `failed ${mine.failures} of its last ${mine.runs} runs on this node (95% lower bound ${round(a.lower)}), against ${theirs.failures} of ${theirs.runs} for ${prev.release.version} (upper bound ${round(b.upper)})`,
      evidence: {
        test: 'wilson-95',
        window: this.opts.window,
        release: { version: r.version, failures: mine.failures, runs: mine.runs, failureRate: round(mine.failures / mine.runs), lowerBound: round(a.lower) },
        previous: { version: prev.release.version, cid: prev.release.cid, failures: theirs.failures, runs: theirs.runs, failureRate: round(theirs.failures / theirs.runs), upperBound: round(b.upper) }
      },
      lifted: null
    }
    // in force once written and audited
    this.pending.add(cid)
    try {
      await this.write(q)
      await this.c.audit?.append({ action: 'learned.quarantined', subject: cid, details: { name: r.name, version: r.version, author: r.author, reason: q.reason } })
      this.records.set(cid, q)
    } finally {
      this.pending.delete(cid)
    }
    this.c.metrics?.improverDecisions.inc({ rule: 'quarantine', result: 'applied' })
    return q
  }

  /** Ends the quarantines of name+author that a newer release replaced. */
  private sweep (name: string, author: string): void {
    const newest = this.c.index.versions(name, author)[0]
    if (newest == null) return
    for (const q of this.records.values()) {
      if (q.lifted != null || q.name !== name || q.author !== author || !semver.gt(newest.release.version, q.version)) continue
      q.lifted = { by: 'newer-release', at: this.c.now(), version: newest.release.version }
      this.c.metrics?.improverDecisions.inc({ rule: 'quarantine', result: 'lifted' })
      void this.put(q).catch(() => {})
      void this.c.audit?.append({ action: 'learned.quarantine-lifted', subject: q.cid, details: { name, version: q.version, by: 'newer-release', newer: newest.release.version } }).catch(() => {})
    }
  }

  /** An admin lifts a quarantine; returns it, or undefined when the release is not quarantined. */
  async lift (cid: string, by: string): Promise<QuarantineRecord | undefined> {
    const q = this.active(cid)
    if (q == null) return undefined
    q.lifted = { by, at: this.c.now() }
    await this.put(q)
    this.c.metrics?.improverDecisions.inc({ rule: 'quarantine', result: 'lifted' })
    await this.c.audit?.append({ action: 'learned.quarantine-lifted', subject: cid, actor: by, details: { name: q.name, version: q.version, by: 'admin' } })
    return q
  }

  private async put (q: QuarantineRecord): Promise<void> {
    this.records.set(q.cid, q)
    await this.write(q)
  }

  private async write (q: QuarantineRecord): Promise<void> {
    await this.c.store.write([{ type: 'put', bucket: Bucket.memory, key: quarantineKey(q.cid), value: encodeCanonical(JSON.parse(JSON.stringify(q))) }], { sync: true })
  }
}

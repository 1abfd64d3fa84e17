import { createHash } from 'node:crypto'
import { decodeCanonical, encodeCanonical } from '../../protocol/index.js'
import type { Db } from '../store/index.js'
import { defaultMemoryOptions, type MemoryOptions } from '../improve/options.js'

/**
 * MemoryEngine (DESIGN.md "Human fallback, memory"): outcomes per skill release × input
 * fingerprint × executor — runs that succeeded and failed, the last status, durations and the
 * attempts the task had taken — so a node can tell which releases work on which inputs where.
 *
 * It is bounded: at most `maxOutcomes` records, none older than `maxAgeDays`. An in-memory
 * index keeps the records in the order they were last touched (a Map moved-to-end on update),
 * so recording is O(1): the least recently touched records are evicted from its head, and
 * writes (updates and evictions together) go to LevelDB in one batch per flush — records made
 * while a batch is being written join the next one.
 */
export interface OutcomeRelease { name: string, version: string, cid: string }

export interface Outcome {
  /** The release's CID (kept under this name: `aas memory show --json` has always shown it). */
  skill: string
  name: string
  version: string
  input: string
  executor: string
  successes: number
  failures: number
  lastStatus: string
  /** Attempts the task had taken when this outcome came. */
  lastAttempts: number
  totalMs: number
  lastMs: number
  lastAt: number
}

export interface SkillSummary {
  /** The release's CID. */
  skill: string
  name: string
  version: string
  successes: number
  failures: number
  /** Distinct inputs seen. */
  inputs: number
  executors: number
  meanMs: number
}

export interface OutcomeRecord {
  skill: OutcomeRelease
  input: unknown
  /** Who ran it: an executor's peer id, or the person who decided it in review. */
  executor: string
  status: string
  durationMs: number
  attempts: number
}

/** sha2-256 of the canonical encoding of the input: equal inputs, equal fingerprints. */
export function inputFingerprint (input: unknown): string {
  return createHash('sha256').update(encodeCanonical(JSON.parse(JSON.stringify(input ?? null)))).digest('hex')
}

export { defaultMemoryOptions, type MemoryOptions }

const PREFIX = 'o!'
const keyOf = (cid: string, fp: string, executor: string): string => `${PREFIX}${cid}!${fp}!${executor}`
const DAY_MS = 86_400_000

export class MemoryEngine {
  private readonly opts: MemoryOptions
  /** key → outcome, least recently touched first. */
  private readonly index = new Map<string, Outcome>()
  /** Writes not yet in a batch: a record, or null for an eviction. */
  private readonly dirty = new Map<string, Outcome | null>()
  private writing: Promise<void> = Promise.resolve()
  private next: Promise<void> | null = null
  private evictedTotal = 0

  constructor (private readonly db: Pick<Db, 'batch' | 'iterator'>, private readonly now: () => number = Date.now, opts: Partial<MemoryOptions> = {}) {
    this.opts = { ...defaultMemoryOptions, ...opts }
  }

  get options (): MemoryOptions { return this.opts }

  /** Records kept now. */
  get size (): number { return this.index.size }

  /** Records evicted since the start. */
  get evicted (): number { return this.evictedTotal }

  /** Reads the stored records into the index (oldest first) and applies the bounds to them. */
  async load (): Promise<void> {
    const all: Array<[string, Outcome]> = []
    for await (const [k, v] of this.db.iterator({ gte: PREFIX, lt: `${PREFIX}\xff` })) all.push([k, decodeCanonical(v) as Outcome])
    all.sort((a, b) => a[1].lastAt - b[1].lastAt)
    for (const [k, o] of all) this.index.set(k, o)
    this.evict()
    await this.flush()
  }

  /** One outcome; resolves when it (and the evictions it caused) is on disk. */
  async record (r: OutcomeRecord): Promise<Outcome> {
    const fp = inputFingerprint(r.input)
    const key = keyOf(r.skill.cid, fp, r.executor)
    const prev = this.index.get(key)
    const o: Outcome = prev ?? { skill: r.skill.cid, name: r.skill.name, version: r.skill.version, input: fp, executor: r.executor, successes: 0, failures: 0, lastStatus: '', lastAttempts: 0, totalMs: 0, lastMs: 0, lastAt: 0 }
    const ms = Math.max(0, Math.round(r.durationMs))
    if (r.status === 'succeeded' || r.status === 'resolved') o.successes++; else o.failures++
    o.lastStatus = r.status
    o.lastAttempts = r.attempts
    o.totalMs += ms
    o.lastMs = ms
    o.lastAt = this.now()
    // moved to the end: the most recently touched
    this.index.delete(key)
    this.index.set(key, o)
    this.dirty.set(key, o)
    this.evict()
    await this.flush()
    return o
  }

  /** Evicts from the head: past the count (down to 90% of it, so eviction comes in batches), or too old. */
  private evict (): void {
    const oldest = this.now() - this.opts.maxAgeDays * DAY_MS
    const over = this.index.size > this.opts.maxOutcomes
    const keep = over ? Math.floor(this.opts.maxOutcomes * 0.9) : this.opts.maxOutcomes
    for (const [k, o] of this.index) {
      if (this.index.size <= keep && o.lastAt >= oldest) break
      this.index.delete(k)
      this.dirty.set(k, null)
      this.evictedTotal++
    }
  }

  /** Writes what is dirty in one batch, after the batch before it (group commit). */
  private async flush (): Promise<void> {
    if (this.next != null) return await this.next
    const run = this.writing.then(async () => {
      this.next = null
      if (this.dirty.size === 0) return
      const ops = [...this.dirty].map(([key, o]) => o == null
        ? { type: 'del' as const, key }
        : { type: 'put' as const, key, value: encodeCanonical(o as unknown as Record<string, unknown>) })
      this.dirty.clear()
      await this.db.batch(ops)
    })
    this.next = run
    this.writing = run.catch(() => {})
    return await run
  }

  /** The outcomes of one release on one input, one per executor. */
  outcomes (skillCid: string, input: unknown): Outcome[] {
    const fp = inputFingerprint(input)
    const out: Outcome[] = []
    for (const o of this.index.values()) if (o.skill === skillCid && o.input === fp) out.push(o)
    return out
  }

  /** One release on one input, over every executor (undefined when never seen). */
  outcome (skillCid: string, input: unknown): Outcome | undefined {
    const all = this.outcomes(skillCid, input)
    if (all.length === 0) return undefined
    return all.reduce((a, b) => ({ ...b, executor: '*', successes: a.successes + b.successes, failures: a.failures + b.failures, totalMs: a.totalMs + b.totalMs, ...(a.lastAt > b.lastAt ? { lastStatus: a.lastStatus, lastMs: a.lastMs, lastAt: a.lastAt, lastAttempts: a.lastAttempts } : {}) }))
  }

  /** Per skill release (of one skill name, if given): totals over all inputs and executors. */
  summary (name?: string): SkillSummary[] {
    const by = new Map<string, SkillSummary & { totalMs: number, fps: Set<string>, execs: Set<string> }>()
    for (const o of this.index.values()) {
      if (name != null && o.name !== name) continue
      let s = by.get(o.skill)
      if (s == null) {
        s = { skill: o.skill, name: o.name, version: o.version, successes: 0, failures: 0, inputs: 0, executors: 0, meanMs: 0, totalMs: 0, fps: new Set(), execs: new Set() }
        by.set(o.skill, s)
      }
      s.successes += o.successes
      s.failures += o.failures
      s.totalMs += o.totalMs
      s.fps.add(o.input)
      s.execs.add(o.executor)
    }
    return [...by.values()].map(({ totalMs, fps, execs, ...s }) => ({ ...s, inputs: fps.size, executors: execs.size, meanMs: Math.round(totalMs / Math.max(1, s.successes + s.failures)) }))
  }
}

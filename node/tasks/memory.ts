import { createHash } from 'node:crypto'
import { decodeCanonical, encodeCanonical } from '../../protocol/index.js'
import type { Db } from '../store/index.js'

/**
 * MemoryEngine (DESIGN.md "Human fallback, memory"): outcomes per skill release and input
 * fingerprint — successes, failures, total and last durations — so a node can tell which
 * releases work on which inputs (the SelfImprover of a later issue reads it).
 */
export interface Outcome {
  skill: string
  input: string
  successes: number
  failures: number
  totalMs: number
  lastMs: number
  lastAt: number
}

export interface SkillSummary {
  skill: string
  successes: number
  failures: number
  inputs: number
  meanMs: number
}

/** sha2-256 of the canonical encoding of the input: equal inputs, equal fingerprints. */
export function inputFingerprint (input: unknown): string {
  return createHash('sha256').update(encodeCanonical(JSON.parse(JSON.stringify(input ?? null)))).digest('hex')
}

export class MemoryEngine {
  constructor (private readonly db: Db, private readonly now: () => number = Date.now) {}

  async record (skillCid: string, input: unknown, success: boolean, durationMs: number): Promise<Outcome> {
    const fp = inputFingerprint(input)
    const key = `o!${skillCid}!${fp}`
    const prev = await this.db.get(key)
    const o: Outcome = prev != null ? decodeCanonical(prev) as Outcome : { skill: skillCid, input: fp, successes: 0, failures: 0, totalMs: 0, lastMs: 0, lastAt: 0 }
    if (success) o.successes++; else o.failures++
    o.totalMs += Math.round(durationMs)
    o.lastMs = Math.round(durationMs)
    o.lastAt = this.now()
    await this.db.put(key, encodeCanonical(o))
    return o
  }

  async outcome (skillCid: string, input: unknown): Promise<Outcome | undefined> {
    const v = await this.db.get(`o!${skillCid}!${inputFingerprint(input)}`)
    return v == null ? undefined : decodeCanonical(v) as Outcome
  }

  /** Per skill release: totals over all inputs. */
  async summary (): Promise<SkillSummary[]> {
    const by = new Map<string, SkillSummary & { totalMs: number }>()
    for await (const [, v] of this.db.iterator({ gte: 'o!', lt: 'o!\xff' })) {
      const o = decodeCanonical(v) as Outcome
      const s = by.get(o.skill) ?? { skill: o.skill, successes: 0, failures: 0, inputs: 0, meanMs: 0, totalMs: 0 }
      s.successes += o.successes
      s.failures += o.failures
      s.inputs++
      s.totalMs += o.totalMs
      by.set(o.skill, s)
    }
    return [...by.values()].map(({ totalMs, ...s }) => ({ ...s, meanMs: Math.round(totalMs / Math.max(1, s.successes + s.failures)) }))
  }
}

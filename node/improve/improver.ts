import type { Release } from '../../protocol/index.js'
import type { Metrics } from '../metrics.js'
import type { AppliedFix, TaskRecord } from '../tasks/index.js'
import type { LearnedAnswers } from './answers.js'
import { failureSignature, type FixHints } from './fixes.js'
import type { Quarantine } from './quarantine.js'
import { successLowerBound, type ExecutorRecords } from './routing.js'
import { defaultImproverOptions, type ImproverOptions } from './options.js'

/**
 * The SelfImprover (DESIGN.md "Human fallback, memory, self-improvement"): one decision
 * function per choice, each returning what it decided and the evidence, which the task's history
 * carries (`learned: {rule, evidence}`). It never changes a skill's code and never reuses an
 * answer its reviewer did not allow. Each rule can be turned off.
 */
export { defaultImproverOptions, type ImproverOptions } from './options.js'

export type ImproverRule = 'answer-reuse' | 'routing' | 'quarantine' | 'fix-hint'

/** Lower bounds this close count as equal: the bids decide between them. */
const ROUTING_TIE = 0.05

export interface Learned {
  rule: ImproverRule
  evidence: Record<string, unknown>
}

export interface ReuseDecision extends Learned {
  output: unknown
}

export interface SelfImproverComponents {
  answers: LearnedAnswers
  executors?: ExecutorRecords
  quarantine?: Quarantine
  fixes?: FixHints
  metrics: Metrics | null
}

type Entry = { release: Release, manifest: Record<string, any> }

export class SelfImprover {
  private readonly opts: ImproverOptions

  constructor (private readonly c: SelfImproverComponents, opts: Partial<ImproverOptions> = {}) {
    this.opts = { ...defaultImproverOptions, ...opts }
  }

  get options (): ImproverOptions { return this.opts }

  /** Rule 1: a reviewer already answered this very input of this skill's major version and allowed reuse. */
  async reuse (t: TaskRecord): Promise<ReuseDecision | undefined> {
    if (!this.opts.reuse) return undefined
    const a = await this.c.answers.find(t.spec.skill.name, t.spec.skill.version, t.spec.input)
    this.c.metrics?.improverDecisions.inc({ rule: 'answer-reuse', result: a != null ? 'applied' : 'none' })
    if (a == null) return undefined
    return {
      rule: 'answer-reuse',
      output: a.output,
      evidence: { review: a.review, resolvedBy: a.resolvedBy.replace(/^user:/, ''), version: a.version, annotation: a.annotation, at: a.at }
    }
  }

  /**
   * Rule 2: of the executors that bid (`ranked`: best bid first), the one with the best recent
   * success on this skill — by the lower bound of its success rate, so one lucky run does not
   * win; bounds within ROUTING_TIE are equal and the bids decide. Returns the index of the
   * winner in `ranked` and the evidence, or undefined when the bids' own choice stands.
   */
  route (skill: string, ranked: string[]): { index: number, learned: Learned } | undefined {
    if (!this.opts.routing || this.c.executors == null || ranked.length < 2) return undefined
    const scored = ranked.map((executor, i) => {
      const { successes, runs } = this.c.executors!.stats(skill, executor)
      return { executor, i, successes, runs, bound: successLowerBound(successes, runs) }
    })
    const top = Math.max(...scored.map(s => s.bound))
    const winner = scored.find(s => s.bound >= top - ROUTING_TIE)!
    const changed = winner.i !== 0
    this.c.metrics?.improverDecisions.inc({ rule: 'routing', result: changed ? 'applied' : 'none' })
    if (!changed) return undefined
    const round = (x: number): number => Math.round(x * 1000) / 1000
    return {
      index: winner.i,
      learned: {
        rule: 'routing',
        evidence: {
          chosen: { executor: winner.executor, successes: winner.successes, runs: winner.runs, lowerBound: round(winner.bound) },
          bestBid: { executor: scored[0].executor, successes: scored[0].successes, runs: scored[0].runs, lowerBound: round(scored[0].bound) }
        }
      }
    }
  }

  /**
   * Rule 3: `ref` (a name or NAME@RANGE; a CID asks for those very bytes and is left alone)
   * resolved to `entry`; while that release is quarantined on this node, the previous good
   * release of the same name and author within the range runs instead. Undefined: `entry` stands
   * (not quarantined, or no good release to fall back to).
   */
  release (ref: string, entry: Entry): { entry: Entry, learned: Learned } | undefined {
    const q = this.c.quarantine
    if (!this.opts.quarantine || q == null || ref === entry.release.cid) return undefined
    const held = q.active(entry.release.cid)
    if (held == null) return undefined
    const at = ref.lastIndexOf('@')
    const range = at > 0 ? ref.slice(at + 1) : '*'
    const good = q.previousGood(entry.release.name, entry.release.author, entry.release.version, range)
    this.c.metrics?.improverDecisions.inc({ rule: 'quarantine', result: good != null ? 'applied' : 'none' })
    if (good == null) return undefined
    return {
      entry: good,
      learned: {
        rule: 'quarantine',
        evidence: {
          asked: ref,
          quarantined: { version: held.version, cid: held.cid, since: held.since, reason: held.reason, ...held.evidence },
          chosen: { version: good.release.version, cid: good.release.cid }
        }
      }
    }
  }

  /**
   * Rule 4: the run of `t` failed with `status`/`error` and the task is about to go to a person
   * (or fail): when a reviewer gave a fix for this failure signature, and none was applied to
   * this task yet, the input to retry with and why. The caller checks it against the input schema.
   */
  fixHint (t: TaskRecord, failure: { status: string, error: string | null }): { fix: Omit<AppliedFix, 'attempt'>, learned: Learned } | undefined {
    const hints = this.c.fixes
    if (!this.opts.fixHints || hints == null || t.fix != null) return undefined
    const input = t.spec.input
    if (input == null || typeof input !== 'object' || Array.isArray(input)) return undefined
    const signature = failureSignature(t.spec.skill, failure.status, failure.error)
    const h = hints.find(signature)
    this.c.metrics?.improverDecisions.inc({ rule: 'fix-hint', result: h != null ? 'applied' : 'none' })
    if (h == null) return undefined
    return {
      fix: { signature, review: h.review, input: { ...(input as Record<string, unknown>), ...h.fix.input } },
      learned: {
        rule: 'fix-hint',
        evidence: { signature, review: h.review, resolvedBy: h.resolvedBy.replace(/^user:/, ''), fix: h.fix, applied: h.applied, succeeded: h.succeeded, failed: h.failed }
      }
    }
  }
}

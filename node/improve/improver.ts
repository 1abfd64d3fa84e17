import type { Metrics } from '../metrics.js'
import type { TaskRecord } from '../tasks/index.js'
import type { LearnedAnswers } from './answers.js'
import { successLowerBound, type ExecutorRecords } from './routing.js'

/**
 * The SelfImprover (DESIGN.md "Human fallback, memory, self-improvement"): one decision
 * function per choice, each returning what it decided and the evidence, which the task's history
 * carries (`learned: {rule, evidence}`). It never changes a skill's code and never reuses an
 * answer its reviewer did not allow. Each rule can be turned off.
 */
export interface ImproverOptions {
  /** Answer an input identical to one a reviewer resolved with "reuse", from memory. */
  reuse: boolean
  /** Prefer executors with better recent success on the skill (a lower confidence bound). */
  routing: boolean
}

export const defaultImproverOptions: ImproverOptions = { reuse: true, routing: true }

export type ImproverRule = 'answer-reuse' | 'routing'

/** Lower bounds this close count as equal: the bids decide between them. */
const ROUTING_TIE = 0.05

export interface Learned {
  rule: ImproverRule
  evidence: Record<string, unknown>
}

export interface ReuseDecision extends Learned {
  output: unknown
}

export class SelfImprover {
  private readonly opts: ImproverOptions

  constructor (private readonly c: { answers: LearnedAnswers, executors?: ExecutorRecords, metrics: Metrics | null }, opts: Partial<ImproverOptions> = {}) {
    this.opts = { ...defaultImproverOptions, ...opts }
  }

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
}

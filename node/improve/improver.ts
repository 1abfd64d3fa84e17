import type { Metrics } from '../metrics.js'
import type { TaskRecord } from '../tasks/index.js'
import type { LearnedAnswers } from './answers.js'

/**
 * The SelfImprover (DESIGN.md "Human fallback, memory, self-improvement"): one decision
 * function per choice, each returning what it decided and the evidence, which the task's history
 * carries (`learned: {rule, evidence}`). It never changes a skill's code and never reuses an
 * answer its reviewer did not allow. Each rule can be turned off.
 */
export interface ImproverOptions {
  /** Answer an input identical to one a reviewer resolved with "reuse", from memory. */
  reuse: boolean
}

export const defaultImproverOptions: ImproverOptions = { reuse: true }

export type ImproverRule = 'answer-reuse'

export interface Learned {
  rule: ImproverRule
  evidence: Record<string, unknown>
}

export interface ReuseDecision extends Learned {
  output: unknown
}

export class SelfImprover {
  private readonly opts: ImproverOptions

  constructor (private readonly c: { answers: LearnedAnswers, metrics: Metrics | null }, opts: Partial<ImproverOptions> = {}) {
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
}

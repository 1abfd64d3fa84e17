import type { SandboxOptions } from '../../../skills/sandbox/options.js'
import type { GossipRouter } from '../../gossip/index.js'
import type { Logger } from '../../log.js'
import type { Metrics } from '../../metrics.js'
import type { SkillResolver } from './submit.js'
import type { FailureContext } from './attempts.js'
import type { TaskStateMachine } from '../state.js'
import type { TaskStore } from '../store.js'
import type { TaskRecord } from '../types.js'

/**
 * What the origin's parts (submit, auction, leases, results) share: the state machine they
 * change tasks through, the store they read, the clock, and the options.
 */
export interface OriginOptions {
  leaseMs: number
  bidWindowMs: number
  /** Re-gossip an offer nobody has claimed after this long (lost gossip, busy mesh). */
  reofferMs: number
  defaultTimeoutS: number
  defaultAttempts: number
  sandbox: SandboxOptions
}

export const defaultOriginOptions: Omit<OriginOptions, 'sandbox'> = {
  leaseMs: 10_000, bidWindowMs: 30, reofferMs: 5_000, defaultTimeoutS: 300, defaultAttempts: 3
}

export interface OriginComponents {
  self: string
  store: TaskStore
  machine: TaskStateMachine
  index: SkillResolver
  gossip: Pick<GossipRouter, 'publish'>
  metrics: Metrics | null
  log: Logger
  now: () => number
  /** Tiers of the executors this origin knows of now, its own included (default: none). */
  tiers?: () => number[]
  /** Whether this node has a person who can review (the default of `onFailure`). */
  hasReviewers?: () => boolean
  /** The SelfImprover's decisions taken at submission (answer reuse). */
  improver?: {
    reuse: (t: TaskRecord) => Promise<{ rule: string, output: unknown, evidence: Record<string, unknown> } | undefined>
    /** Of executors ranked best bid first, the index to assign and why; undefined keeps the bids' choice. */
    route?: (skill: string, ranked: string[]) => { index: number, learned: { rule: string, evidence: Record<string, unknown> } } | undefined
  }
}

export interface OriginContext extends OriginComponents {
  opts: OriginOptions
}

/** What the failure path needs to know now. */
export function failureContext (ctx: OriginContext): FailureContext {
  return { now: ctx.now(), tiers: ctx.tiers?.() ?? [] }
}

import type { SandboxOptions } from '../../../skills/sandbox/options.js'
import type { GossipRouter } from '../../gossip/index.js'
import type { Logger } from '../../log.js'
import type { Metrics } from '../../metrics.js'
import type { SkillResolver } from './submit.js'
import type { FailureContext } from './attempts.js'
import type { TaskStateMachine } from '../state.js'
import type { TaskStore } from '../store.js'
import { schemaProblem } from '../../../skills/manifest/index.js'
import type { Release } from '../../../protocol/index.js'
import type { AppliedFix, TaskRecord } from '../types.js'

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
  /** This origin's public key (raw): task ids are bound to it [default: the key in `self`, an ed25519 peer id]. */
  selfKey?: Uint8Array
  store: TaskStore
  machine: TaskStateMachine
  index: SkillResolver
  gossip: Pick<GossipRouter, 'publish'>
  metrics: Metrics | null
  log: Logger
  now: () => number
  /** Tiers of the executors this origin knows of now, its own included (default: none). */
  tiers?: () => number[]
  /** One executor's tier, as its hellos (or this node's settings) say; undefined: not known. */
  tierOf?: (peer: string) => number | undefined
  /** Whether this node has a person who can review (the default of `onFailure`). */
  hasReviewers?: () => boolean
  /** The SelfImprover's decisions (node/improve): each returns what it decided and why, or undefined. */
  improver?: {
    /** At submission: a reviewer's reusable answer to this very input. */
    reuse: (t: TaskRecord) => Promise<{ rule: string, output: unknown, evidence: Record<string, unknown> } | undefined>
    /** Of executors ranked best bid first, the index to assign and why; undefined keeps the bids' choice. */
    route?: (skill: string, ranked: string[]) => { index: number, learned: Learned } | undefined
    /** At submission: another release for `ref` while the one it resolved to is quarantined. */
    release?: (ref: string, entry: { release: Release, manifest: Record<string, any> }) => { entry: { release: Release, manifest: Record<string, any> }, learned: Learned } | undefined
    /** Before a task goes to a person: a reviewer's fix for this failure, to retry once with. */
    fixHint?: (t: TaskRecord, failure: { status: string, error: string | null }) => { fix: Omit<AppliedFix, 'attempt'>, learned: Learned } | undefined
  }
}

export interface Learned { rule: string, evidence: Record<string, unknown> }

export interface OriginContext extends OriginComponents {
  opts: OriginOptions
}

/** What the failure path needs to know now. */
export function failureContext (ctx: OriginContext): FailureContext {
  const improver = ctx.improver
  return {
    now: ctx.now(),
    tiers: ctx.tiers?.() ?? [],
    ...(improver?.fixHint != null
      ? {
          fix: (t, failure) => {
            const d = improver.fixHint!(t, failure)
            if (d == null) return undefined
            // a fix kept under an older input schema of the same major may no longer fit
            const schema = ctx.index.resolve(t.spec.skill.cid)?.manifest.inputSchema as object | undefined
            return schemaProblem(schema, d.fix.input) == null ? d : undefined
          }
        }
      : {})
  }
}

/**
 * The SelfImprover's options (each rule can be turned off) and their defaults, apart from
 * the improver so that the node's config defaults need not load its store and routing.
 */
export interface ImproverOptions {
  /** Answer an input identical to one a reviewer resolved with "reuse", from memory. */
  reuse: boolean
  /** Prefer executors with better recent success on the skill (a lower confidence bound). */
  routing: boolean
  /** Give submissions the previous good release while the newest is quarantined on this node. */
  quarantine: boolean
  /** Retry a recurring failure once with the fix a reviewer gave for it, before asking a person. */
  fixHints: boolean
  /** Share answers reviewers allowed to be reused (and their withdrawals) with the team, and adopt the team's. */
  shareAnswers: boolean
}

export const defaultImproverOptions: ImproverOptions = { reuse: true, routing: true, quarantine: true, fixHints: true, shareAnswers: true }

/** How much the MemoryEngine keeps (node/tasks/memory.ts). */
export interface MemoryOptions {
  /** Outcome records kept at most; past it the least recently updated are evicted. */
  maxOutcomes: number
  /** Records not updated for this long are evicted. */
  maxAgeDays: number
}

export const defaultMemoryOptions: MemoryOptions = { maxOutcomes: 50_000, maxAgeDays: 90 }

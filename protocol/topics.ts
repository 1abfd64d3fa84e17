/**
 * Gossip topic names and stream protocol ids. Versioned, so a later wire change gets a new
 * name rather than confusing old nodes.
 */
export const TOPIC_PREFIX = '/aas/1'

export const Topics = {
  hello: `${TOPIC_PREFIX}/hello`,
  skills: `${TOPIC_PREFIX}/skills`,
  tasks: `${TOPIC_PREFIX}/tasks`,
  /** Revocations of team keys (a team's and its partners' nodes all need them). */
  revocations: `${TOPIC_PREFIX}/revocations`
} as const

/** Stream protocols (request/response over one libp2p stream, length-prefixed frames). */
export const Protocols = {
  /** Fetch a bundle by CID. */
  bundle: '/aas/bundle/1.0.0',
  /** Ask a peer for every skill release it has indexed (late joiners learn the index). */
  releases: '/aas/releases/1.0.0',
  /** A CLI peer submits a task (signed envelope) to a node, which becomes its origin. */
  taskSubmit: '/aas/task/submit/1.0.0',
  /** Task state by id, from its origin. */
  taskStatus: '/aas/task/status/1.0.0',
  /** An executor bids for an offered task; the origin answers won (with the input) or lost. */
  taskClaim: '/aas/task/claim/1.0.0',
  /** The executor renews its lease while the skill runs. */
  taskLease: '/aas/task/lease/1.0.0',
  /** The executor delivers its signed result; the origin acks it. */
  taskResult: '/aas/task/result/1.0.0'
} as const

/** A team's own topic: its team-scoped task gossip (offers without skill, assignments, ends). */
export function teamTopic (tag: string): string {
  return `${TOPIC_PREFIX}/team/${tag}/tasks`
}

export type TopicName = typeof Topics[keyof typeof Topics]

/**
 * Gossip topic names and stream protocol ids. Versioned, so a later wire change gets a new
 * name rather than confusing old nodes.
 */
export const TOPIC_PREFIX = '/aas/1'

export const Topics = {
  hello: `${TOPIC_PREFIX}/hello`,
  skills: `${TOPIC_PREFIX}/skills`
} as const

/** Stream protocols (request/response over one libp2p stream, length-prefixed frames). */
export const Protocols = {
  /** Fetch a bundle by CID. */
  bundle: '/aas/bundle/1.0.0',
  /** Ask a peer for every skill release it has indexed (late joiners learn the index). */
  releases: '/aas/releases/1.0.0'
} as const

export type TopicName = typeof Topics[keyof typeof Topics]

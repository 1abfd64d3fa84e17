/**
 * Gossip topic names and stream protocol ids. Versioned, so a later wire change gets a new
 * name rather than confusing old nodes.
 */
export const TOPIC_PREFIX = '/aas/1'

export const Topics = {
  hello: `${TOPIC_PREFIX}/hello`
} as const

export type TopicName = typeof Topics[keyof typeof Topics]

import type { JSONSchemaType } from 'ajv'
import { Topics } from '../topics.js'
import type { MessageSpec } from '../registry.js'

/**
 * `hello`: a node's periodic announcement of itself: who it is (the envelope's sender),
 * where it listens, and a counter. Nodes use it to find peers they are not yet connected to,
 * and operators use it to see that gossip reaches everyone.
 */
export interface HelloBody {
  /** Increases with every hello a node sends during one run. */
  seq: number
  /** Multiaddrs the sender listens on, without /p2p (the sender's peer id is known). */
  addrs: string[]
  /** The sender's software version. */
  agent: string
  /** The sender's executor tier (`tasks.tier`), when it executes tasks. */
  tier?: number
}

const schema: JSONSchemaType<HelloBody> = {
  type: 'object',
  additionalProperties: false,
  required: ['seq', 'addrs', 'agent'],
  properties: {
    seq: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    addrs: { type: 'array', maxItems: 16, items: { type: 'string', minLength: 1, maxLength: 256 } },
    agent: { type: 'string', maxLength: 64 },
    tier: { type: 'integer', minimum: 0, maximum: 9, nullable: true }
  }
}

export const hello: MessageSpec<HelloBody> = {
  type: 'hello',
  topic: Topics.hello,
  maxBytes: 4096,
  schema: schema as object,
  role: 'node'
}

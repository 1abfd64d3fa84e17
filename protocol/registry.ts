import { Ajv, type ValidateFunction } from 'ajv'
import type { Envelope } from './envelope.js'

/**
 * A message type: its name, the gossip topic that carries it, its hard size limit (whole
 * encoded envelope) and the JSON Schema of its body.
 */
export interface MessageSpec<B> {
  type: string
  topic: string
  maxBytes: number
  /** JSON Schema of the body (checked against `B` where it is written, with JSONSchemaType). */
  schema: object
  /**
   * A pure check of what a schema cannot say (an inner signature, a digest), run after the
   * envelope's signature; throws GossipActionError.
   */
  check?: (body: B, envelope: Envelope<B>) => Promise<void> | void
  /**
   * The role (federation/ Role) the signer's membership certificate must give for this type;
   * checked after the signature by the node's `authorize` (default deny: every type names one).
   */
  role: string
  /** Also carried on the node's team topic (team-scoped task gossip). */
  teamScoped?: boolean
  /** Phantom: ties the spec to its body type. */
  readonly __body?: B
}

export interface CompiledSpec {
  type: string
  topic: string
  maxBytes: number
  validate: ValidateFunction
  check?: (body: any, envelope: Envelope<any>) => Promise<void> | void
  role: string
  /** Every topic that carries it: its own, and the node's team topic when team-scoped. */
  topics: string[]
}

/** Every message type, compiled once; lookups by type and by topic. */
export class MessageRegistry {
  private readonly byType = new Map<string, CompiledSpec>()
  private readonly byTopic = new Map<string, CompiledSpec[]>()
  private readonly ajv = new Ajv({ allErrors: false, strict: true })

  /** `teamTopic`: the node's team topic, which carries the team-scoped types too. */
  constructor (specs: Array<MessageSpec<unknown>>, opts: { teamTopic?: string } = {}) {
    for (const spec of specs) {
      if (this.byType.has(spec.type)) throw new Error(`message type ${spec.type} registered twice`)
      const topics = spec.teamScoped === true && opts.teamTopic != null ? [spec.topic, opts.teamTopic] : [spec.topic]
      const compiled: CompiledSpec = { type: spec.type, topic: spec.topic, maxBytes: spec.maxBytes, validate: this.ajv.compile(spec.schema), check: spec.check, role: spec.role, topics }
      this.byType.set(spec.type, compiled)
      for (const t of topics) this.byTopic.set(t, [...(this.byTopic.get(t) ?? []), compiled])
    }
  }

  get (type: string): CompiledSpec | undefined {
    return this.byType.get(type)
  }

  forTopic (topic: string): CompiledSpec[] {
    return this.byTopic.get(topic) ?? []
  }

  /** The largest message a topic may carry (0: none; stream-only types are never gossip). */
  maxBytesFor (topic: string): number {
    if (topic === '') return 0
    return Math.max(0, ...this.forTopic(topic).map(s => s.maxBytes))
  }

  /** Gossip topics (stream-only types have topic ''). */
  topics (): string[] {
    return [...this.byTopic.keys()].filter(t => t !== '')
  }
}

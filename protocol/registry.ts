import { Ajv, type ValidateFunction } from 'ajv'

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
  check?: (body: B) => Promise<void>
  /** Phantom: ties the spec to its body type. */
  readonly __body?: B
}

export interface CompiledSpec {
  type: string
  topic: string
  maxBytes: number
  validate: ValidateFunction
  check?: (body: any) => Promise<void>
}

/** Every message type, compiled once; lookups by type and by topic. */
export class MessageRegistry {
  private readonly byType = new Map<string, CompiledSpec>()
  private readonly byTopic = new Map<string, CompiledSpec[]>()
  private readonly ajv = new Ajv({ allErrors: false, strict: true })

  constructor (specs: Array<MessageSpec<unknown>>) {
    for (const spec of specs) {
      if (this.byType.has(spec.type)) throw new Error(`message type ${spec.type} registered twice`)
      const compiled: CompiledSpec = { type: spec.type, topic: spec.topic, maxBytes: spec.maxBytes, validate: this.ajv.compile(spec.schema), check: spec.check }
      this.byType.set(spec.type, compiled)
      this.byTopic.set(spec.topic, [...(this.byTopic.get(spec.topic) ?? []), compiled])
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

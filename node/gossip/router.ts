import { TopicValidatorResult, type Message, type PeerId } from '@libp2p/interface'
import type { PubSub } from '@libp2p/interface'
import type { GossipsubEvents } from '@chainsafe/libp2p-gossipsub'
import {
  GossipActionError, GossipAction, ReplayGuard, validateGossipMessage,
  type FreshnessOptions, type MessageRegistry, type MessageSpec, type ValidateDeps, type ValidatedMessage
} from '../../protocol/index.js'
import { GOSSIP_REASON_OK, type Metrics } from '../metrics.js'
import type { Logger } from '../log.js'
import type { Signer } from '../signer.js'
import { membershipReason } from '../team/authorize.js'

/**
 * Wires the pure validators of protocol/ into gossipsub (STYLE.md "three layers"): one
 * adapter per topic runs `validateGossipMessage`, maps its outcome to Accept/Reject/Ignore
 * and counts it; accepted messages go to a handler chosen by message type. Rejected ones
 * never reach a handler, and gossipsub scores their sender down.
 */
export type GossipHandler<B = any> = (msg: ValidatedMessage<B>, propagationSource: PeerId) => void | Promise<void>

/**
 * A node-dependent check after the pure validation (trust, rollback): throws
 * GossipActionError to refuse, so the message is neither handled nor forwarded.
 */
export type GossipAdmit<B = any> = (msg: ValidatedMessage<B>) => void | Promise<void>

export interface GossipRouterComponents {
  pubsub: PubSub<GossipsubEvents>
  signer: Pick<Signer, 'seal'>
  registry: MessageRegistry
  metrics: Metrics | null
  log: Logger
  /** Told of each rejected message (the audit trail's flood-safe record), with the peer that sent it. */
  onRejected?: (from: string, reason: string, topic: string) => void
  /** The membership check (node/team/authorize.ts): may the signer send this type? */
  authorize?: ValidateDeps['authorize']
}

export interface GossipRouterInit {
  freshness: FreshnessOptions
  now?: () => number
}

/** Team topics carry a team's tag: one metric label for all of them. */
export function metricTopic (topic: string): string {
  return topic.includes('/team/') ? '/aas/1/team' : topic
}

export class GossipRouter {
  private readonly c: GossipRouterComponents
  private readonly handlers = new Map<string, GossipHandler>()
  private readonly admitters = new Map<string, GossipAdmit>()
  private readonly validated = new WeakMap<Message, ValidatedMessage>()
  private readonly replay: ReplayGuard
  private readonly freshness: FreshnessOptions
  private readonly now: () => number

  constructor (components: GossipRouterComponents, init: GossipRouterInit) {
    this.c = components
    this.freshness = init.freshness
    this.now = init.now ?? Date.now
    this.replay = new ReplayGuard({ windowMs: init.freshness.maxAgeMs + init.freshness.maxFutureMs })
  }

  /** Sets the handler of one message type (one handler per type). */
  handle<B> (spec: MessageSpec<B>, handler: GossipHandler<B>, opts: { admit?: GossipAdmit<B> } = {}): void {
    this.handlers.set(spec.type, handler as GossipHandler)
    if (opts.admit != null) this.admitters.set(spec.type, opts.admit as GossipAdmit)
  }

  start (): void {
    const { pubsub } = this.c
    for (const topic of this.c.registry.topics()) {
      pubsub.topicValidators.set(topic, async (from, msg) => this.validate(from, msg))
      pubsub.subscribe(topic)
    }
    pubsub.addEventListener('message', this.onMessage)
  }

  stop (): void {
    const { pubsub } = this.c
    pubsub.removeEventListener('message', this.onMessage)
    for (const topic of this.c.registry.topics()) {
      pubsub.topicValidators.delete(topic)
      pubsub.unsubscribe(topic)
    }
  }

  /**
   * Signs `body` as a `spec.type` envelope and gossips it on the type's topic (or `opts.topic`,
   * one the type may travel on: the team topic); `recipients`: how many peers it was sent to
   * now (0: none subscribed yet).
   */
  async publish<B> (spec: MessageSpec<B>, body: B, opts: { topic?: string } = {}): Promise<{ bytes: Uint8Array, recipients: number }> {
    const topic = opts.topic ?? spec.topic
    if (!(this.c.registry.get(spec.type)?.topics.includes(topic) ?? false)) throw new RangeError(`${spec.type} is not carried on ${topic}`)
    const bytes = await this.c.signer.seal(spec, body)
    if (bytes.length > spec.maxBytes) throw new RangeError(`${spec.type} message of ${bytes.length} bytes is over its ${spec.maxBytes} byte limit`)
    const { recipients } = await this.c.pubsub.publish(topic, bytes)
    this.c.metrics?.gossipPublished.inc({ topic: metricTopic(topic) })
    return { bytes, recipients: recipients.length }
  }

  private async validate (_from: PeerId, msg: Message): Promise<TopicValidatorResult> {
    const count = (result: string, reason: string): void => { this.c.metrics?.gossipMessages.inc({ topic: metricTopic(msg.topic), result, reason }) }
    try {
      const publisher = msg.type === 'signed' ? msg.from.toString() : undefined
      const ok = await validateGossipMessage({ registry: this.c.registry, replay: this.replay, freshness: this.freshness, now: this.now, authorize: this.c.authorize }, msg.topic, msg.data, publisher)
      await this.admitters.get(ok.envelope.type)?.(ok)
      this.validated.set(msg, ok)
      count('accept', GOSSIP_REASON_OK)
      return TopicValidatorResult.Accept
    } catch (err: any) {
      if (err instanceof GossipActionError) {
        count(err.action, err.reason)
        if (err.action === GossipAction.REJECT) this.c.onRejected?.(_from.toString(), err.reason, metricTopic(msg.topic))
        const membership = membershipReason(err)
        if (membership != null) this.c.metrics?.membershipRefusals.inc({ channel: 'gossip', reason: membership })
        this.c.log.debug({ topic: msg.topic, reason: err.reason, from: _from.toString() }, 'gossip message refused')
        return err.action === GossipAction.REJECT ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
      }
      count(GossipAction.IGNORE, 'internal')
      this.c.log.warn({ err, topic: msg.topic }, 'gossip validator failed')
      return TopicValidatorResult.Ignore
    }
  }

  private readonly onMessage = (evt: CustomEvent<Message>): void => {
    const msg = evt.detail
    const ok = this.validated.get(msg)
    if (ok == null) return // not one of ours, or not validated: never handed on
    this.validated.delete(msg)
    const handler = this.handlers.get(ok.envelope.type)
    if (handler == null) return
    const source = msg.type === 'signed' ? msg.from : undefined
    Promise.resolve()
      .then(async () => { await handler(ok, source as PeerId) })
      .catch(err => { this.c.log.warn({ err, type: ok.envelope.type }, 'gossip handler failed') })
  }
}

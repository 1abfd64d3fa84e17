import { decodeEnvelope, senderPeerId, verifyEnvelopeSignature, type Envelope } from './envelope.js'
import { GossipAction, GossipActionError, RejectCode } from './errors.js'
import type { CompiledSpec, MessageRegistry } from './registry.js'
import type { ReplayGuard } from './replay.js'

/**
 * The pure validation of one gossiped message (STYLE.md: validators throw
 * `GossipActionError(REJECT|IGNORE, code)`; an adapter in the node maps the outcome to
 * gossipsub and counts it). Checks run cheapest first: size before decoding, shape, topic,
 * schema and clock before the signature, and the replay cache last, so that a message which
 * fails anything else never takes a nonce slot.
 */
export interface FreshnessOptions {
  /** Oldest acceptable message, in ms before now. */
  maxAgeMs: number
  /** How far a sender's clock may run ahead of ours, in ms. */
  maxFutureMs: number
}

export const defaultFreshnessOptions: FreshnessOptions = {
  maxAgeMs: 5 * 60_000,
  maxFutureMs: 30_000
}

export interface ValidateDeps {
  registry: MessageRegistry
  replay: ReplayGuard
  freshness: FreshnessOptions
  now: () => number
  /**
   * The node's membership check (federation/): may the signer, with the certificate it
   * presented, send this type (its `role`)? Throws GossipActionError to refuse. Run after the
   * signature, so a refusal is only ever charged to the key that really signed.
   */
  authorize?: (envelope: Envelope, spec: CompiledSpec) => Promise<unknown> | unknown
}

export interface ValidatedMessage<B = unknown> {
  envelope: Envelope<B>
  /** Peer id text of the signer. */
  sender: string
  /** The gossip topic it came on (gossip only). */
  topic?: string
  /** What `authorize` returned (the node's view of the signer: its membership). */
  member?: any
}

function reject (reason: RejectCode, detail: string): never {
  throw new GossipActionError(GossipAction.REJECT, reason, detail)
}

/**
 * @param topic the topic the message arrived on
 * @param data the message bytes
 * @param publisher peer id of the gossip-level author, when known: it must be the signer
 */
export async function validateGossipMessage (deps: ValidateDeps, topic: string, data: Uint8Array, publisher?: string): Promise<ValidatedMessage> {
  const maxBytes = deps.registry.maxBytesFor(topic)
  if (maxBytes === 0) reject(RejectCode.WRONG_TOPIC, `no message type is carried on ${topic}`)
  if (data.length > maxBytes) reject(RejectCode.OVERSIZE, `${data.length} bytes is over the ${maxBytes} byte limit of ${topic}`)
  const ok = await validateEnvelopeBytes(deps, data, (type) => {
    const spec = deps.registry.get(type)
    if (spec == null) reject(RejectCode.SCHEMA, `unknown message type "${type}"`)
    if (!spec.topics.includes(topic)) reject(RejectCode.WRONG_TOPIC, `${type} does not belong on ${topic}`)
    return spec
  }, publisher)
  return { ...ok, topic }
}

/**
 * The same checks for a message that came over a stream rather than gossip: it must be of
 * `type` (a stream protocol carries one type), within its size, schema, clock, signature,
 * and not a replay.
 */
export async function validateDirectMessage (deps: ValidateDeps, type: string, data: Uint8Array): Promise<ValidatedMessage> {
  const spec = deps.registry.get(type)
  if (spec == null) throw new TypeError(`message type ${type} is not registered`)
  if (data.length > spec.maxBytes) reject(RejectCode.OVERSIZE, `${data.length} bytes is over the ${spec.maxBytes} byte limit of ${type}`)
  return await validateEnvelopeBytes(deps, data, (got) => {
    if (got !== type) reject(RejectCode.SCHEMA, `expected a ${type} message, got "${got}"`)
    return spec
  })
}

async function validateEnvelopeBytes (deps: ValidateDeps, data: Uint8Array, specFor: (type: string) => CompiledSpec, publisher?: string): Promise<ValidatedMessage> {
  const envelope = decodeEnvelope(data)
  const spec = specFor(envelope.type)
  if (data.length > spec.maxBytes) reject(RejectCode.OVERSIZE, `${data.length} bytes is over the ${spec.maxBytes} byte limit of ${spec.type}`)
  if (!spec.validate(envelope.body)) {
    const first = spec.validate.errors?.[0]
    reject(RejectCode.SCHEMA, `${spec.type} body${first?.instancePath ?? ''} ${first?.message ?? 'is invalid'}`)
  }

  const now = deps.now()
  if (envelope.ts < now - deps.freshness.maxAgeMs) reject(RejectCode.STALE, `message is ${now - envelope.ts} ms old`)
  if (envelope.ts > now + deps.freshness.maxFutureMs) reject(RejectCode.FUTURE, `message is ${envelope.ts - now} ms in the future`)

  if (!await verifyEnvelopeSignature(envelope)) reject(RejectCode.SIGNATURE, 'signature does not verify')
  const sender = senderPeerId(envelope)
  if (publisher !== undefined && publisher !== sender) reject(RejectCode.SENDER_MISMATCH, 'gossip author is not the envelope signer')

  const member = await deps.authorize?.(envelope, spec)
  await spec.check?.(envelope.body, envelope)

  const key = `${sender}/${Buffer.from(envelope.nonce).toString('hex')}`
  if (deps.replay.has(key, now)) reject(RejectCode.REPLAY, 'nonce already seen')
  deps.replay.add(key, envelope.ts, now)
  return { envelope, sender, ...(member != null ? { member } : {}) }
}

import { randomBytes } from 'node:crypto'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { decodeCanonical, domainSeparated, encodeCanonical } from './codec.js'
import { GossipAction, GossipActionError, RejectCode } from './errors.js'

/**
 * The signed envelope every application message travels in (DESIGN.md "Identity, envelopes,
 * validation"): version, type, sender key, timestamp, nonce, body, optional membership
 * certificate, signature. The signature covers the canonical encoding of every other field,
 * prefixed by a domain tag, so it can never be replayed as some other kind of signed object.
 */
export const ENVELOPE_VERSION = 1
export const ENVELOPE_DOMAIN = 'aas/envelope/v1'
export const ED25519_PUBLIC_KEY_BYTES = 32
export const ED25519_SIGNATURE_BYTES = 64
export const NONCE_BYTES = 16

export interface UnsignedEnvelope<B = unknown> {
  v: number
  type: string
  /** Raw 32-byte ed25519 public key of the sender (its peer id is derived from it). */
  from: Uint8Array
  /** Milliseconds since the Unix epoch, by the sender's clock. */
  ts: number
  nonce: Uint8Array
  body: B
  /** A membership certificate (federation, later); opaque bytes here. */
  cert?: Uint8Array
}

export interface Envelope<B = unknown> extends UnsignedEnvelope<B> {
  sig: Uint8Array
}

export interface SealOptions {
  /** Clock, for tests. */
  now?: number
  nonce?: Uint8Array
  cert?: Uint8Array
}

/** Builds, signs and encodes an envelope; returns its canonical bytes. */
export async function sealEnvelope<B> (key: PrivateKey, type: string, body: B, options: SealOptions = {}): Promise<Uint8Array> {
  if (key.type !== 'Ed25519') throw new TypeError('envelopes are signed with ed25519 keys')
  const unsigned: UnsignedEnvelope<B> = {
    v: ENVELOPE_VERSION,
    type,
    from: key.publicKey.raw,
    ts: options.now ?? Date.now(),
    nonce: options.nonce ?? randomBytes(NONCE_BYTES),
    body
  }
  if (options.cert != null) unsigned.cert = options.cert
  const sig = await key.sign(domainSeparated(ENVELOPE_DOMAIN, unsigned))
  return encodeCanonical({ ...unsigned, sig })
}

const FIELDS = new Set(['v', 'type', 'from', 'ts', 'nonce', 'body', 'cert', 'sig'])

function reject (reason: RejectCode, detail: string): never {
  throw new GossipActionError(GossipAction.REJECT, reason, detail)
}

function isBytes (value: unknown, length?: number): value is Uint8Array {
  return value instanceof Uint8Array && (length === undefined || value.length === length)
}

/**
 * Decodes bytes into an envelope and checks its shape (not its body, time or signature).
 * Throws `GossipActionError` REJECT with `malformed` or `version`.
 */
export function decodeEnvelope (bytes: Uint8Array): Envelope {
  let value: unknown
  try {
    value = decodeCanonical(bytes)
  } catch (err: any) {
    reject(RejectCode.MALFORMED, `not canonical DAG-CBOR: ${String(err?.message ?? err)}`)
  }
  if (value == null || typeof value !== 'object' || Array.isArray(value)) reject(RejectCode.MALFORMED, 'envelope is not a map')
  const e = value as Record<string, unknown>
  for (const k of Object.keys(e)) if (!FIELDS.has(k)) reject(RejectCode.MALFORMED, `unknown envelope field "${k}"`)
  if (e.v !== ENVELOPE_VERSION) reject(RejectCode.VERSION, `unsupported envelope version ${String(e.v)}`)
  if (typeof e.type !== 'string' || e.type.length === 0 || e.type.length > 64) reject(RejectCode.MALFORMED, 'bad envelope type')
  if (!isBytes(e.from, ED25519_PUBLIC_KEY_BYTES)) reject(RejectCode.MALFORMED, 'bad sender key')
  if (!Number.isSafeInteger(e.ts) || (e.ts as number) < 0) reject(RejectCode.MALFORMED, 'bad timestamp')
  if (!isBytes(e.nonce, NONCE_BYTES)) reject(RejectCode.MALFORMED, 'bad nonce')
  if (!isBytes(e.sig, ED25519_SIGNATURE_BYTES)) reject(RejectCode.MALFORMED, 'bad signature field')
  if (e.cert !== undefined && !isBytes(e.cert)) reject(RejectCode.MALFORMED, 'bad certificate field')
  if (!('body' in e)) reject(RejectCode.MALFORMED, 'missing body')
  return e as unknown as Envelope
}

/** Verifies the envelope's signature against its own sender key. */
export async function verifyEnvelopeSignature (envelope: Envelope): Promise<boolean> {
  const { sig, ...unsigned } = envelope
  try {
    const key = publicKeyFromRaw(envelope.from)
    return await key.verify(domainSeparated(ENVELOPE_DOMAIN, unsigned), sig)
  } catch {
    return false
  }
}

/** The libp2p peer id (text form) of the envelope's sender. */
export function senderPeerId (envelope: Pick<Envelope, 'from'>): string {
  return peerIdFromPublicKey(publicKeyFromRaw(envelope.from)).toString()
}

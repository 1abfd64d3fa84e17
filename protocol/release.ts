import { createHash } from 'node:crypto'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { domainSeparated, encodeCanonical } from './codec.js'
import { parsePublicKeyText, publicKeyText } from './keys.js'

/**
 * A skill release (DESIGN.md "Skills"): which content (`cid`, `size`) is `name@version`, by
 * which author, since when, and the digest of its manifest — signed by the author's ed25519
 * key over a domain-separated canonical payload, so a node can check it with nothing but the
 * release itself, whoever relays it.
 */
export const RELEASE_DOMAIN = 'aas/release/v1'

export interface UnsignedRelease {
  name: string
  version: string
  /** Bundle CID (CIDv1 dag-cbor sha2-256), text. */
  cid: string
  /** Bundle size in bytes. */
  size: number
  /** Author public key, text form (z6Mk…). */
  author: string
  /** ms since the epoch, by the author's clock. */
  publishedAt: number
  /** sha2-256 (hex) of the canonical encoding of the bundle's manifest. */
  manifestDigest: string
}

export interface Release extends UnsignedRelease {
  /** ed25519 signature, base64url. */
  signature: string
}

export function manifestDigest (manifest: unknown): string {
  return createHash('sha256').update(encodeCanonical(manifest)).digest('hex')
}

function payload (r: UnsignedRelease): Uint8Array {
  const { name, version, cid, size, author, publishedAt, manifestDigest } = r
  return domainSeparated(RELEASE_DOMAIN, { name, version, cid, size, author, publishedAt, manifestDigest })
}

export async function signRelease (key: PrivateKey, fields: Omit<UnsignedRelease, 'author'>): Promise<Release> {
  if (key.type !== 'Ed25519') throw new TypeError('releases are signed with ed25519 author keys')
  const unsigned: UnsignedRelease = { ...fields, author: publicKeyText(key.publicKey.raw) }
  const sig = await key.sign(payload(unsigned))
  return { ...unsigned, signature: Buffer.from(sig).toString('base64url') }
}

/** True when the author's signature covers exactly these fields. */
export async function verifyRelease (r: Release): Promise<boolean> {
  try {
    const key = publicKeyFromRaw(parsePublicKeyText(r.author))
    const sig = Buffer.from(r.signature, 'base64url')
    if (sig.length !== 64) return false
    return await key.verify(payload(r), sig)
  } catch {
    return false
  }
}

/** The JSON Schema of a release (used inside message schemas). */
export const releaseSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'cid', 'size', 'author', 'publishedAt', 'manifestDigest', 'signature'],
  properties: {
    name: { type: 'string', minLength: 2, maxLength: 64, pattern: '^[a-z0-9]+(-[a-z0-9]+)*$' },
    version: { type: 'string', minLength: 5, maxLength: 64, pattern: '^\\d+\\.\\d+\\.\\d+(-[0-9A-Za-z.-]+)?(\\+[0-9A-Za-z.-]+)?$' },
    cid: { type: 'string', minLength: 10, maxLength: 128, pattern: '^b[a-z2-7]+$' },
    size: { type: 'integer', minimum: 1, maximum: 1024 * 1024 * 1024 },
    author: { type: 'string', minLength: 40, maxLength: 64, pattern: '^z[1-9A-HJ-NP-Za-km-z]+$' },
    publishedAt: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    manifestDigest: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    signature: { type: 'string', pattern: '^[A-Za-z0-9_-]{86}$' }
  }
} as const

import { createPrivateKey, sign as edSign, type KeyObject } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { sealEnvelope, type MessageSpec } from '../protocol/index.js'

/**
 * The one place a node (or a CLI peer) signs anything (DESIGN.md "Identity, envelopes"): every
 * envelope it sends — gossip, stream requests, results — is sealed here, and audit entries and
 * checkpoints are signed here. Today that is the ed25519 key; when teams arrive the signer also
 * carries the membership certificate, so no call site changes.
 */
export interface SignerInit {
  /** Clock, for tests. */
  now?: () => number
  /** A membership certificate to attach to every envelope (federation). */
  cert?: Uint8Array
}

export class Signer {
  readonly peerId: string
  readonly publicKey: Uint8Array
  private readonly keyObject: KeyObject
  private readonly now: () => number
  private cert: Uint8Array | undefined

  constructor (readonly privateKey: PrivateKey, init: SignerInit = {}) {
    if (privateKey.type !== 'Ed25519') throw new TypeError('AAS signs with ed25519 keys')
    this.peerId = peerIdFromPrivateKey(privateKey).toString()
    this.publicKey = privateKey.publicKey.raw
    // libp2p keeps the 32-byte seed followed by the public key
    const seed = privateKey.raw.subarray(0, 32)
    this.keyObject = createPrivateKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(seed).toString('base64url'), x: Buffer.from(this.publicKey).toString('base64url') } })
    this.now = init.now ?? Date.now
    this.cert = init.cert
  }

  /** Sets the certificate sent with every envelope from now on. */
  setCertificate (cert: Uint8Array | undefined): void {
    this.cert = cert
  }

  /** A signed envelope of `type` carrying `body`, in its canonical bytes. */
  async seal<B> (spec: MessageSpec<B> | string, body: B): Promise<Uint8Array> {
    const type = typeof spec === 'string' ? spec : spec.type
    return await sealEnvelope(this.privateKey, type, body, { now: this.now(), ...(this.cert != null ? { cert: this.cert } : {}) })
  }

  /** A raw ed25519 signature over an already domain-separated payload (audit entries, checkpoints). */
  signPayload (payload: Uint8Array): Uint8Array {
    return edSign(null, payload, this.keyObject)
  }
}

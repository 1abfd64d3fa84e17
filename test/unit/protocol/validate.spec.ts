import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import {
  defaultRegistry, sealEnvelope, validateGossipMessage, decodeCanonical, encodeCanonical, ReplayGuard,
  GossipActionError, GossipAction, RejectCode, Topics, senderPeerId, decodeEnvelope, type ValidateDeps
} from '../../../protocol/index.js'

async function refused (p: Promise<unknown>): Promise<GossipActionError> {
  try {
    await p
  } catch (err) {
    expect(err).to.be.instanceOf(GossipActionError)
    return err as GossipActionError
  }
  throw new Error('expected the message to be refused')
}

describe('protocol: gossip validation', () => {
  let key: PrivateKey
  let deps: ValidateDeps
  const now = 1_800_000_000_000
  const body = { seq: 1, addrs: ['/ip4/127.0.0.1/tcp/7400'], agent: 'aas/test' }

  beforeEach(async () => {
    key = await generateKeyPair('Ed25519')
    deps = { registry: defaultRegistry(), replay: new ReplayGuard({ windowMs: 330_000 }), freshness: { maxAgeMs: 300_000, maxFutureMs: 30_000 }, now: () => now }
  })

  it('accepts a good message and names its signer', async () => {
    const bytes = await sealEnvelope(key, 'hello', body, { now })
    const ok = await validateGossipMessage(deps, Topics.hello, bytes, key.publicKey.toString())
    expect(ok.sender).to.equal(key.publicKey.toString())
    expect(ok.envelope.body).to.deep.equal(body)
  })

  it('encodes canonically: a decoded envelope re-encodes to the same bytes', async () => {
    const bytes = await sealEnvelope(key, 'hello', body, { now })
    expect(encodeCanonical(decodeEnvelope(bytes))).to.deep.equal(bytes)
  })

  const cases: Array<[string, RejectCode, (k: PrivateKey) => Promise<Uint8Array>]> = [
    ['random bytes', RejectCode.MALFORMED, async () => new Uint8Array([0xa1, 0x01, 0xff, 0x00])],
    ['a CBOR list', RejectCode.MALFORMED, async () => encodeCanonical([1, 2, 3])],
    ['an oversize message', RejectCode.OVERSIZE, async () => new Uint8Array(5000)],
    ['an unknown field', RejectCode.MALFORMED, async (k) => encodeCanonical({ ...(decodeCanonical(await sealEnvelope(k, 'hello', body, { now })) as object), extra: 1 })],
    ['another envelope version', RejectCode.VERSION, async (k) => encodeCanonical({ ...(decodeCanonical(await sealEnvelope(k, 'hello', body, { now })) as object), v: 2 })],
    ['an unknown type', RejectCode.SCHEMA, async (k) => await sealEnvelope(k, 'bogus', body, { now })],
    ['a body breaking the schema', RejectCode.SCHEMA, async (k) => await sealEnvelope(k, 'hello', { ...body, seq: 'one' }, { now })],
    ['a body with an extra field', RejectCode.SCHEMA, async (k) => await sealEnvelope(k, 'hello', { ...body, evil: true }, { now })],
    ['a stale message', RejectCode.STALE, async (k) => await sealEnvelope(k, 'hello', body, { now: now - 300_001 })],
    ['a message from the future', RejectCode.FUTURE, async (k) => await sealEnvelope(k, 'hello', body, { now: now + 30_001 })],
    ['a tampered body', RejectCode.SIGNATURE, async (k) => {
      const e = decodeCanonical(await sealEnvelope(k, 'hello', body, { now })) as any
      e.body.seq = 2
      return encodeCanonical(e)
    }],
    ['a signature by another key', RejectCode.SIGNATURE, async (k) => {
      const e = decodeCanonical(await sealEnvelope(k, 'hello', body, { now })) as any
      e.from = (await generateKeyPair('Ed25519')).publicKey.raw
      return encodeCanonical(e)
    }]
  ]
  for (const [what, code, make] of cases) {
    it(`rejects ${what} with ${code}`, async () => {
      const err = await refused(validateGossipMessage(deps, Topics.hello, await make(key)))
      expect(err.action).to.equal(GossipAction.REJECT)
      expect(err.reason).to.equal(code)
    })
  }

  it('rejects a message on a topic that carries no AAS type', async () => {
    const err = await refused(validateGossipMessage(deps, '/other', await sealEnvelope(key, 'hello', body, { now })))
    expect(err.reason).to.equal(RejectCode.WRONG_TOPIC)
  })

  it('rejects a gossip author who is not the signer', async () => {
    const other = await generateKeyPair('Ed25519')
    const err = await refused(validateGossipMessage(deps, Topics.hello, await sealEnvelope(key, 'hello', body, { now }), other.publicKey.toString()))
    expect(err.reason).to.equal(RejectCode.SENDER_MISMATCH)
  })

  it('rejects a replayed nonce, and a refused message takes no nonce slot', async () => {
    const bytes = await sealEnvelope(key, 'hello', body, { now })
    const tampered = decodeCanonical(bytes) as any
    tampered.body.seq = 9
    expect((await refused(validateGossipMessage(deps, Topics.hello, encodeCanonical(tampered)))).reason).to.equal(RejectCode.SIGNATURE)
    await validateGossipMessage(deps, Topics.hello, bytes)
    expect((await refused(validateGossipMessage(deps, Topics.hello, bytes))).reason).to.equal(RejectCode.REPLAY)
  })

  it('derives the sender peer id from the key', async () => {
    const e = decodeEnvelope(await sealEnvelope(key, 'hello', body, { now }))
    expect(senderPeerId(e)).to.equal(key.publicKey.toString())
  })
})

describe('protocol: replay guard', () => {
  it('forgets entries after the window and stays within its bound', () => {
    const g = new ReplayGuard({ windowMs: 1000, maxEntries: 3 })
    g.add('a', 0, 0)
    expect(g.has('a', 999)).to.equal(true)
    expect(g.has('a', 1000)).to.equal(false)
    for (const k of ['b', 'c', 'd', 'e']) g.add(k, 10, 10)
    expect(g.size).to.equal(3)
    expect(g.has('b', 11)).to.equal(false)
    expect(g.has('e', 11)).to.equal(true)
  })
})

describe('protocol/codec: one value, one encoding', () => {
  it('refuses CBOR undefined (0xf7), which the decoder would read as null', async () => {
    const { decodeCanonical, encodeCanonical } = await import('../../../protocol/index.js')
    const good = encodeCanonical({ error: null })
    const bad = Uint8Array.from(good, (b, i) => i === good.length - 1 ? 0xf7 : b)
    expect(decodeCanonical(good)).to.deep.equal({ error: null })
    expect(() => decodeCanonical(bad)).to.throw(/canonical/)
  })
})

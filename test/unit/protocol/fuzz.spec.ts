import { expect } from 'chai'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import {
  defaultRegistry, sealEnvelope, validateGossipMessage, encodeCanonical, decodeCanonical, ReplayGuard,
  GossipActionError, GossipAction, Topics, type ValidateDeps
} from '../../../protocol/index.js'

/**
 * TARGETS.md R3: malformed gossip input, fuzzed (well over 10k cases here), never crashes
 * the validator and is always refused with a REJECT carrying a known reason, never accepted
 * and never an unexpected exception.
 */
async function mustReject (deps: ValidateDeps, data: Uint8Array): Promise<void> {
  try {
    await validateGossipMessage(deps, Topics.hello, data)
  } catch (err) {
    if (!(err instanceof GossipActionError)) throw err
    expect(err.action).to.equal(GossipAction.REJECT)
    return
  }
  throw new Error(`accepted a fuzzed message: ${Buffer.from(data).toString('hex')}`)
}

describe('protocol: fuzzed gossip input', function () {
  this.timeout(120_000)
  let key: PrivateKey
  let deps: ValidateDeps
  let valid: Uint8Array
  const now = 1_800_000_000_000

  before(async () => {
    key = await generateKeyPair('Ed25519')
    deps = { registry: defaultRegistry(), replay: new ReplayGuard({ windowMs: 330_000 }), freshness: { maxAgeMs: 300_000, maxFutureMs: 30_000 }, now: () => now }
    valid = await sealEnvelope(key, 'hello', { seq: 1, addrs: ['/ip4/127.0.0.1/tcp/1'], agent: 'x' }, { now })
  })

  it('rejects 4000 random byte strings', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 6000 }), async (data) => { await mustReject(deps, data) }), { numRuns: 4000 })
  })

  it('rejects 4000 random CBOR values, including envelope-shaped maps', async () => {
    const bytes = fc.oneof(fc.uint8Array({ maxLength: 80 }), fc.constant(new Uint8Array(32)), fc.constant(new Uint8Array(16)), fc.constant(new Uint8Array(64)))
    const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 20 }), fc.boolean(), fc.constant(null), bytes)
    const value = fc.letrec(tie => ({
      v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 6 }), tie('v'), { maxKeys: 4 }))
    })).v
    const envelopeLike = fc.record({
      v: fc.oneof(fc.constant(1), leaf), type: fc.oneof(fc.constant('hello'), leaf), from: bytes, ts: fc.oneof(fc.constant(now), leaf),
      nonce: bytes, body: value, sig: bytes
    }, { requiredKeys: [] })
    await fc.assert(fc.asyncProperty(fc.oneof(value, envelopeLike), async (v) => {
      let data: Uint8Array
      try { data = encodeCanonical(v) } catch { return }
      await mustReject(deps, data)
    }), { numRuns: 4000 })
  })

  it('rejects 4000 single-byte mutations and truncations of a valid message', async () => {
    const valid2 = decodeCanonical(valid)
    expect(valid2).to.be.an('object')
    await fc.assert(fc.asyncProperty(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 }), fc.boolean(), async (at, xor, truncate) => {
      const data = truncate ? valid.slice(0, at) : Uint8Array.from(valid, (b, i) => i === at ? b ^ xor : b)
      await mustReject(deps, data)
    }), { numRuns: 4000 })
  })
})

import { expect } from 'chai'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import {
  defaultRegistry, sealEnvelope, validateGossipMessage, validateDirectMessage, encodeCanonical, decodeCanonical, ReplayGuard,
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

/**
 * The same for stream requests (task submit, claim, lease, result: validateDirectMessage) and
 * for bundles from peers (decodeBundle): refused with their own error types, never a crash.
 */
describe('protocol: fuzzed stream requests and bundles', function () {
  this.timeout(120_000)
  const now = 1_800_000_000_000
  let deps: ValidateDeps
  const valid = new Map<string, Uint8Array>()
  const taskId = 'bafyreigp7vcegov3sme3pxms7jjhfa52gumfmtsw67suir4t3way3gsooe'

  before(async () => {
    const key = await generateKeyPair('Ed25519')
    deps = { registry: defaultRegistry(), replay: new ReplayGuard({ windowMs: 330_000 }), freshness: { maxAgeMs: 300_000, maxFutureMs: 30_000 }, now: () => now }
    valid.set('task-claim', await sealEnvelope(key, 'task-claim', { taskId, attempt: 1, freeSlots: 1, cached: true, load: 0 }, { now }))
    valid.set('task-lease', await sealEnvelope(key, 'task-lease', { taskId, attempt: 1 }, { now }))
    valid.set('task-result', await sealEnvelope(key, 'task-result', { taskId, attempt: 1, status: 'succeeded', output: { ok: true }, error: null, timings: { fetchMs: 1, sandboxMs: 2 } }, { now }))
    valid.set('task-submit', await sealEnvelope(key, 'task-submit', { skill: 'csv-clean', input: { csv: 'a' }, timeoutS: 30, attempts: 1 }, { now }))
  })

  const mustRefuse = async (type: string, data: Uint8Array): Promise<void> => {
    try {
      await validateDirectMessage(deps, type, data)
    } catch (err) {
      if (!(err instanceof GossipActionError)) throw err
      return
    }
    throw new Error(`accepted a fuzzed ${type}: ${Buffer.from(data).toString('hex')}`)
  }

  it('refuses 4000 random byte strings and 4000 mutations of valid requests, of every stream type', async () => {
    const types = [...valid.keys()]
    await fc.assert(fc.asyncProperty(fc.constantFrom(...types), fc.uint8Array({ maxLength: 3000 }), async (type, data) => { await mustRefuse(type, data) }), { numRuns: 4000 })
    await fc.assert(fc.asyncProperty(fc.constantFrom(...types), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.boolean(), async (type, pos, xor, truncate) => {
      const v = valid.get(type)!
      const at = pos % v.length
      await mustRefuse(type, truncate ? v.slice(0, at) : Uint8Array.from(v, (b, i) => i === at ? b ^ xor : b))
    }), { numRuns: 4000 })
  })

  it('refuses a valid request of one stream type sent on another (a signature made for another type)', async () => {
    for (const [type, data] of valid) {
      for (const other of valid.keys()) if (other !== type) await mustRefuse(other, data)
    }
  })

  it('decodeBundle refuses 4000 random and mutated byte strings with BundleError only', async () => {
    const { encodeBundle, decodeBundle, BundleError } = await import('../../../skills/bundle/index.js')
    const good = encodeBundle([{ path: 'skill.json', mode: 0o644, data: new TextEncoder().encode('{}') }, { path: 'a/b.py', mode: 0o755, data: new Uint8Array([1, 2, 3]) }])
    const check = (data: Uint8Array): void => {
      try {
        decodeBundle(data)
      } catch (err) {
        if (!(err instanceof BundleError)) throw err
        return
      }
      if (Buffer.compare(Buffer.from(data), Buffer.from(good)) !== 0) {
        // a mutation may still be a well-formed bundle (another byte of content): then it must re-encode to itself
        expect(Buffer.compare(Buffer.from(encodeBundle(decodeBundle(data))), Buffer.from(data))).to.equal(0)
      }
    }
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (data) => { check(data) }), { numRuns: 2000 })
    fc.assert(fc.property(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 }), fc.boolean(), (at, xor, truncate) => {
      check(truncate ? good.slice(0, at) : Uint8Array.from(good, (b, i) => i === at ? b ^ xor : b))
    }), { numRuns: 2000 })
  })
})

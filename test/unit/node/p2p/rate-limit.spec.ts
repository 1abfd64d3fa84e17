import { expect } from 'chai'
import { PeerRateLimiter } from '../../../../node/p2p/rate-limit.js'
import { defaultStreamLimits, StreamLimiter } from '../../../../node/p2p/stream-limits.js'
import { Protocols } from '../../../../protocol/index.js'

/**
 * The per-peer token bucket: a burst, then the rate; its table of peers never grows past its
 * bound (the least recently seen peer goes first). The stream limiter gives each protocol its
 * own buckets, submissions the tightest, and counts and tells every refusal.
 */
describe('node/p2p: per-peer rate limits', function () {
  let clock: number
  const now = (): number => clock
  beforeEach(() => { clock = 1_000_000 })

  it('lets a burst through, then refuses until the rate refills the bucket', () => {
    const l = new PeerRateLimiter({ ratePerS: 2, burst: 5, maxPeers: 10 }, now)
    const first = Array.from({ length: 8 }, () => l.take('p'))
    expect(first).to.deep.equal([true, true, true, true, true, false, false, false])
    clock += 499
    expect(l.take('p')).to.equal(false)
    clock += 1
    expect(l.take('p')).to.equal(true) // 0.5 s at 2/s: one token
    expect(l.take('p')).to.equal(false)
    // another peer has its own bucket
    expect(l.take('q')).to.equal(true)
    // a long quiet spell refills to the burst, not beyond it
    clock += 3_600_000
    expect(Array.from({ length: 6 }, () => l.take('p')).filter(Boolean)).to.have.length(5)
  })

  it('keeps at most maxPeers, forgetting the least recently seen first', () => {
    const l = new PeerRateLimiter({ ratePerS: 1, burst: 1, maxPeers: 3 }, now)
    for (const p of ['a', 'b', 'c']) expect(l.take(p)).to.equal(true)
    expect(l.take('a')).to.equal(false) // a is now the most recent
    expect(l.take('d')).to.equal(true) // b, the least recent, is dropped
    expect(l.size).to.equal(3)
    expect(l.take('a')).to.equal(false) // still remembered: still empty
    expect(l.take('b')).to.equal(true) // forgotten: a full bucket again
    for (let i = 0; i < 10_000; i++) l.take(`flood-${i}`)
    expect(l.size).to.equal(3)
  })

  it('refuses options that would never admit anything', () => {
    for (const bad of [{ ratePerS: 0, burst: 1, maxPeers: 1 }, { ratePerS: 1, burst: 0, maxPeers: 1 }, { ratePerS: 1, burst: 1, maxPeers: 0 }, { ratePerS: Number.NaN, burst: 1, maxPeers: 1 }]) {
      expect(() => new PeerRateLimiter(bad, now)).to.throw(RangeError)
    }
  })

  it('gives submissions a lower rate than claims, leases and results; counts and tells each refusal', () => {
    const submit = defaultStreamLimits[Protocols.taskSubmit]
    for (const p of [Protocols.taskClaim, Protocols.taskLease, Protocols.taskResult]) {
      expect(submit.ratePerS).to.be.below(defaultStreamLimits[p].ratePerS)
      expect(submit.burst).to.be.below(defaultStreamLimits[p].burst)
    }
    const counted: string[] = []
    const told: string[] = []
    const s = new StreamLimiter({ now, onCount: (protocol, reason) => counted.push(`${protocol} ${reason}`), onRefused: (peer, reason, protocol) => told.push(`${peer} ${reason} ${protocol}`) })
    const admitted = (protocol: string, n: number): number => Array.from({ length: n }, () => s.admit(protocol, 'mallory')).filter(Boolean).length
    expect(admitted(Protocols.taskSubmit, 100)).to.equal(submit.burst)
    expect(admitted(Protocols.taskClaim, 100)).to.equal(100)
    expect(counted).to.have.length(100 - submit.burst)
    expect(new Set(counted)).to.deep.equal(new Set([`${Protocols.taskSubmit} rate-limited`]))
    expect(told[0]).to.equal(`mallory rate-limited ${Protocols.taskSubmit}`)
    // an honest peer is not slowed by mallory
    expect(s.admit(Protocols.taskSubmit, 'alice')).to.equal(true)
  })
})

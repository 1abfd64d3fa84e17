/**
 * A token bucket per peer (issue 9, "Abuse limits"): each peer may do `ratePerS` things a
 * second on average and `burst` at once. The table of peers is bounded: past `maxPeers`, the
 * least recently seen peer's bucket is dropped (a Map keeps insertion order; every touch moves
 * a peer to the end), so a flood of identities costs memory in proportion to `maxPeers` only.
 * A dropped peer comes back with a full bucket: each new identity needs its own connection
 * (a noise handshake), which libp2p's connection limits bound.
 */
export interface RateLimitOptions {
  /** Tokens a peer gains a second. */
  ratePerS: number
  /** Most tokens a peer holds: what it may do at once after a quiet spell. */
  burst: number
  /** Peers remembered at most. */
  maxPeers: number
}

interface Bucket { tokens: number, at: number }

export class PeerRateLimiter {
  private readonly buckets = new Map<string, Bucket>()
  readonly options: Readonly<RateLimitOptions>
  private readonly now: () => number

  constructor (options: RateLimitOptions, now: () => number = Date.now) {
    if (!(options.ratePerS > 0) || !(options.burst >= 1) || !(options.maxPeers >= 1)) throw new RangeError('a rate limit needs ratePerS > 0, burst ≥ 1 and maxPeers ≥ 1')
    this.options = { ...options }
    this.now = now
  }

  /** Takes one token of `peer`'s bucket: false when it has none left (the caller refuses). */
  take (peer: string): boolean {
    const now = this.now()
    const { ratePerS, burst, maxPeers } = this.options
    const b = this.buckets.get(peer)
    let tokens = burst
    if (b != null) {
      tokens = Math.min(burst, b.tokens + Math.max(0, now - b.at) * ratePerS / 1000)
      this.buckets.delete(peer)
    } else if (this.buckets.size >= maxPeers) {
      // the least recently seen peer is the first key
      this.buckets.delete(this.buckets.keys().next().value as string)
    }
    const ok = tokens >= 1
    this.buckets.set(peer, { tokens: ok ? tokens - 1 : tokens, at: now })
    return ok
  }

  /** Peers in the table now. */
  get size (): number {
    return this.buckets.size
  }
}

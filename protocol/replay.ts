/**
 * Remembers (sender, nonce) pairs for as long as a message carrying them could still pass
 * the freshness check; a second sighting inside that window is a replay. Messages older than
 * the window are refused as stale before they get here, so nothing older needs remembering.
 * Bounded: past `maxEntries` the oldest entries go first (insertion order is time order).
 */
export interface ReplayGuardInit {
  /** How long an entry is kept, in ms: the message age window plus the future skew. */
  windowMs: number
  maxEntries?: number
}

export class ReplayGuard {
  private readonly seen = new Map<string, number>()
  private readonly windowMs: number
  private readonly maxEntries: number

  constructor (init: ReplayGuardInit) {
    this.windowMs = init.windowMs
    this.maxEntries = init.maxEntries ?? 200_000
  }

  /** True when the key was seen inside the window. */
  has (key: string, now: number): boolean {
    const expires = this.seen.get(key)
    return expires !== undefined && expires > now
  }

  /** Records the key; call only once the message passed every other check. */
  add (key: string, ts: number, now: number): void {
    this.prune(now)
    this.seen.delete(key)
    this.seen.set(key, Math.max(ts, now) + this.windowMs)
    while (this.seen.size > this.maxEntries) {
      const oldest = this.seen.keys().next().value
      if (oldest === undefined) break
      this.seen.delete(oldest)
    }
  }

  get size (): number {
    return this.seen.size
  }

  private prune (now: number): void {
    for (const [key, expires] of this.seen) {
      if (expires > now) break
      this.seen.delete(key)
    }
  }
}

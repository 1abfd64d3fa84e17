/**
 * How failed logins slow an attacker down (pure: the clock is an argument). Failures are kept
 * as their times; those older than `windowMs` no longer count. From `throttleAfter` recent
 * failures on, the next try must wait `baseDelayMs · 2^(n − throttleAfter)` after the last one
 * (capped at `maxDelayMs`); at `lockAfter` a user is locked for `lockMs`. With the defaults —
 * 15 s, 30 s, 1 min, 2 min, 4 min — ten failures fit in the 15-minute window, so a patient
 * attacker who waits out every delay still reaches the lock.
 */
export interface ThrottleOptions {
  windowMs: number
  throttleAfter: number
  lockAfter: number
  lockMs: number
  baseDelayMs: number
  maxDelayMs: number
  /** Addresses whose failures are remembered (in memory); past it the oldest is forgotten. */
  maxAddresses: number
}

export const defaultThrottleOptions: ThrottleOptions = {
  windowMs: 15 * 60_000,
  throttleAfter: 5,
  lockAfter: 10,
  lockMs: 30 * 60_000,
  baseDelayMs: 15_000,
  maxDelayMs: 15 * 60_000,
  maxAddresses: 10_000
}

/** The failures still inside the window, oldest first. */
export function recentFailures (failures: readonly number[], now: number, o: Pick<ThrottleOptions, 'windowMs'>): number[] {
  return failures.filter(t => now - t < o.windowMs && t <= now)
}

/** Milliseconds until the next try may be evaluated (0: now). */
export function throttleWait (failures: readonly number[], now: number, o: ThrottleOptions): number {
  const recent = recentFailures(failures, now, o)
  if (recent.length < o.throttleAfter) return 0
  const delay = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (recent.length - o.throttleAfter))
  return Math.max(0, recent[recent.length - 1] + delay - now)
}

/**
 * Failures per client address, in memory: an address has no record to persist, and a restart
 * forgets them (the per-user count, which locks, is persisted). Bounded, oldest address first out.
 */
export class AddressFailures {
  private readonly byAddress = new Map<string, number[]>()

  constructor (private readonly o: ThrottleOptions) {}

  wait (address: string, now: number): number {
    return throttleWait(this.byAddress.get(address) ?? [], now, this.o)
  }

  note (address: string, now: number): void {
    // addresses are never locked, so their count may grow past lockAfter: keep enough to cap the delay
    const kept = (this.byAddress.get(address) ?? []).filter(t => now - t < this.o.windowMs)
    kept.push(now)
    this.byAddress.delete(address)
    this.byAddress.set(address, kept.slice(-64))
    if (this.byAddress.size > this.o.maxAddresses) this.byAddress.delete(this.byAddress.keys().next().value as string)
  }
}

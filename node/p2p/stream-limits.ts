import { Protocols } from '../../protocol/index.js'
import { PeerRateLimiter, type RateLimitOptions } from './rate-limit.js'

/**
 * How many streams a second one peer may open on each request/response protocol (issue 9,
 * "Abuse limits"). Without it a peer could open streams as fast as its connection carries
 * them, each costing the node a decode, a signature check and often a LevelDB read. A stream
 * over the limit is answered with one refusal frame and closed, before its request is read;
 * the refusal is counted (`aas_stream_refusals_total{protocol,reason}`) and told to
 * `onRefused` (the audit trail's flood-safe record).
 *
 * Submissions cost the most (a task stored, offered and run), so they get the lowest rate;
 * executors' claims, lease renewals and results come with every task a node runs, so theirs
 * is high; status polls and bundle fetches in between; index syncs happen once per connection.
 */
export const STREAM_REFUSAL_REASONS = ['rate-limited'] as const
export type StreamRefusalReason = typeof STREAM_REFUSAL_REASONS[number]

export type StreamLimits = Record<string, Omit<RateLimitOptions, 'maxPeers'>>

export const defaultStreamLimits: StreamLimits = {
  [Protocols.taskSubmit]: { ratePerS: 2, burst: 20 },
  [Protocols.taskStatus]: { ratePerS: 10, burst: 50 },
  [Protocols.taskClaim]: { ratePerS: 50, burst: 200 },
  [Protocols.taskLease]: { ratePerS: 50, burst: 200 },
  [Protocols.taskResult]: { ratePerS: 50, burst: 200 },
  [Protocols.bundle]: { ratePerS: 10, burst: 50 },
  [Protocols.releases]: { ratePerS: 1, burst: 5 }
}

/** Any protocol the table does not name. */
export const DEFAULT_STREAM_LIMIT: Omit<RateLimitOptions, 'maxPeers'> = { ratePerS: 20, burst: 100 }

export interface StreamLimiterInit {
  limits?: StreamLimits
  /** Peers remembered per protocol (see PeerRateLimiter). */
  maxPeers?: number
  now?: () => number
  /** Counts a refusal (`aas_stream_refusals_total`). */
  onCount?: (protocol: string, reason: StreamRefusalReason) => void
  /** Told of each refusal: the peer, the reason, the protocol (the audit's flood-safe record). */
  onRefused?: (peer: string, reason: StreamRefusalReason, protocol: string) => void
}

export class StreamLimiter {
  private readonly limiters = new Map<string, PeerRateLimiter>()
  private readonly limits: StreamLimits
  private readonly maxPeers: number
  private readonly now: () => number

  constructor (private readonly init: StreamLimiterInit = {}) {
    this.limits = { ...defaultStreamLimits, ...init.limits }
    this.maxPeers = init.maxPeers ?? 4096
    this.now = init.now ?? Date.now
  }

  /** Whether `peer` may open one more stream of `protocol` now; a refusal is counted and told. */
  admit (protocol: string, peer: string): boolean {
    let l = this.limiters.get(protocol)
    if (l == null) {
      l = new PeerRateLimiter({ ...(this.limits[protocol] ?? DEFAULT_STREAM_LIMIT), maxPeers: this.maxPeers }, this.now)
      this.limiters.set(protocol, l)
    }
    if (l.take(peer)) return true
    this.init.onCount?.(protocol, 'rate-limited')
    this.init.onRefused?.(peer, 'rate-limited', protocol)
    return false
  }
}

/**
 * The limiter of a host's request/response protocols, set once by the node before its parts
 * register handlers: `rpcServe` applies it to every protocol served on that host unless it is
 * handed another, so no protocol is left without a limit by a part that forgot to ask.
 */
const hostLimiters = new WeakMap<object, StreamLimiter>()

export function setStreamLimiter (host: object, limiter: StreamLimiter): void {
  hostLimiters.set(host, limiter)
}

export function streamLimiterOf (host: object): StreamLimiter | undefined {
  return hostLimiters.get(host)
}

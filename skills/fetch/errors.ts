import { AasError } from '../../protocol/errors.js'

/**
 * Why a fetch failed. The first four are what a caller of the whole fetch sees (the API maps
 * them to HTTP statuses); the rest say why one provider was dropped, and the node counts
 * them as `aas_skill_fetch_attempts_total{reason}`.
 */
export enum FetchErrorCode {
  /** No trusted release matches the ref, or the provider does not hold the bundle. */
  NOT_FOUND = 'ERR_NOT_FOUND',
  /** No provider could be reached. */
  NO_PROVIDER = 'ERR_FETCH_NO_PROVIDER',
  /** Every provider failed, or the release is over this node's bundle limit. */
  FAILED = 'ERR_FETCH_FAILED',
  /** The provider closed the stream before its header. */
  NO_ANSWER = 'ERR_FETCH_NO_ANSWER',
  /** The provider's header names another size than the signed release. */
  WRONG_SIZE = 'ERR_FETCH_WRONG_SIZE',
  /** The stream ended before the release's size. */
  TRUNCATED = 'ERR_FETCH_TRUNCATED',
  /** More bytes than the release's size or the node's limit, or a frame over the frame limit. */
  OVERSIZE = 'ERR_FETCH_OVERSIZE',
  /** The bytes do not hash to the CID. */
  HASH_MISMATCH = 'ERR_FETCH_HASH_MISMATCH',
  /** The provider sent nothing for `stallMs`. */
  STALL = 'ERR_FETCH_STALL',
  /** The fetch from this provider passed `timeoutMs`. */
  TIMEOUT = 'ERR_FETCH_TIMEOUT',
  /** The caller's signal aborted it. */
  CANCELLED = 'ERR_FETCH_CANCELLED'
}

/** One provider tried during a fetch, and why it failed (`reason: detail`). */
export interface ProviderAttempt { peer: string, ok: boolean, reason?: string, bytes: number }

export class FetchError extends AasError {
  declare readonly code: FetchErrorCode
  readonly attempts: ProviderAttempt[]

  constructor (message: string, code: FetchErrorCode, init: { attempts?: ProviderAttempt[], cause?: unknown } = {}) {
    super(message, code, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'FetchError'
    this.attempts = init.attempts ?? []
  }
}

export function isFetchError (err: unknown): err is FetchError {
  return (err as Error | undefined)?.name === 'FetchError'
}

/**
 * Base error of every AAS part. Each part declares its own small subclasses with a stable
 * `name` (and a `code` where callers branch); code and tests branch on those, never on text.
 */
export class AasError extends Error {
  readonly code: string

  constructor (message: string, code: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AasError'
    this.code = code
  }
}

/** The caller used a command or an API wrongly (bad flag, bad value): exit code 2 at the CLI. */
export class UsageError extends AasError {
  constructor (message: string, code = 'ERR_USAGE') {
    super(message, code)
    this.name = 'UsageError'
  }
}

/**
 * Why a message was refused. Fixed enum: these values are metric labels
 * (`aas_gossip_messages_total{reason}`), so nothing else may appear there.
 */
export enum RejectCode {
  OVERSIZE = 'oversize',
  MALFORMED = 'malformed',
  VERSION = 'version',
  WRONG_TOPIC = 'wrong-topic',
  SCHEMA = 'schema',
  SIGNATURE = 'signature',
  SENDER_MISMATCH = 'sender-mismatch',
  STALE = 'stale',
  FUTURE = 'future',
  REPLAY = 'replay',
  /** A skill release whose author signature or manifest digest does not verify. */
  RELEASE_SIGNATURE = 'release-signature',
  /** A release by an author this node's trust policy does not accept. */
  UNTRUSTED_AUTHOR = 'untrusted-author',
  /** A release older than one already indexed for the same name and author. */
  ROLLBACK = 'rollback',
  /** Same name, version and author as an indexed release, other content. */
  CONFLICT = 'conflict',
  /** A release whose manifest's own schemas this node will not compile (skills/manifest/skill-schemas.ts). */
  UNSAFE_SCHEMA = 'unsafe-schema',
  /** Over a per-peer rate limit (hellos: node/mesh). */
  RATE_LIMITED = 'rate-limited',
  /** Membership (federation/): the same values as its MembershipCode. */
  NO_CERTIFICATE = 'no-certificate',
  BAD_CERTIFICATE = 'bad-certificate',
  UNKNOWN_TEAM = 'unknown-team',
  EXPIRED_CERTIFICATE = 'expired-certificate',
  CERTIFICATE_SUBJECT = 'certificate-subject',
  REVOKED = 'revoked',
  ROLE = 'role',
  NOT_GRANTED = 'not-granted',
  /** A task message signed by another key than the task's origin (the task id is bound to it). */
  NOT_ORIGIN = 'not-origin',
  NO_TEAM = 'no-team',
  /** A team topic message this node cannot open (not sealed to its team key). */
  SEAL = 'seal'
}

export enum GossipAction {
  /** Invalid: drop and penalise the sender (gossipsub peer scoring). */
  REJECT = 'reject',
  /** Not for us or not now: drop without penalty. */
  IGNORE = 'ignore'
}

/** Thrown by the pure validators; the gossip adapter maps it to a gossipsub result. */
export class GossipActionError extends AasError {
  readonly action: GossipAction
  readonly reason: RejectCode

  constructor (action: GossipAction, reason: RejectCode, detail: string) {
    super(`${action} (${reason}): ${detail}`, reason)
    this.name = 'GossipActionError'
    this.action = action
    this.reason = reason
  }
}

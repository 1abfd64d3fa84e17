import { AasError } from '../protocol/errors.js'

export enum TrustErrorCode {
  /** A key in the trust policy is not an author public key. */
  BAD_KEY = 'ERR_TRUST_BAD_KEY'
}

export class TrustError extends AasError {
  constructor (message: string, code: TrustErrorCode) {
    super(message, code)
    this.name = 'TrustError'
  }
}

/**
 * Why a peer, a certificate or a revocation was refused. The values are metric labels
 * (`aas_membership_refusals_total{reason}`) and gossip reject reasons: fixed.
 */
export enum MembershipCode {
  /** No certificate with the message, and the sender is not this node. */
  NO_CERTIFICATE = 'no-certificate',
  /** The certificate's bytes or signature do not verify. */
  BAD_CERTIFICATE = 'bad-certificate',
  /** Signed by a team this node neither belongs to nor lists as a partner. */
  UNKNOWN_TEAM = 'unknown-team',
  /** Outside its notBefore…expires window. */
  EXPIRED = 'expired-certificate',
  /** The certificate names another key than the message's signer. */
  SUBJECT_MISMATCH = 'certificate-subject',
  /** The key (or the certificate's serial) was revoked by its team. */
  REVOKED = 'revoked',
  /** A valid member, but without the role the action needs. */
  ROLE = 'role',
  /** A partner team, but not granted what the action needs. */
  NOT_GRANTED = 'not-granted',
  /** Offers, assignments and completions are the task's origin's to send. */
  NOT_ORIGIN = 'not-origin',
  /** This node has no team: it accepts nothing from peers. */
  NO_TEAM = 'no-team'
}

export class MembershipError extends AasError {
  readonly reason: MembershipCode

  constructor (message: string, reason: MembershipCode) {
    super(message, `ERR_MEMBERSHIP_${reason.toUpperCase().replace(/-/g, '_')}`)
    this.name = 'MembershipError'
    this.reason = reason
  }
}

export enum TeamErrorCode {
  /** A team descriptor, certificate or key file that cannot be read or is not what it says. */
  BAD_FILE = 'ERR_TEAM_FILE',
  /** A subject that is neither a peer id nor a public key. */
  BAD_SUBJECT = 'ERR_TEAM_SUBJECT',
  /** A role that does not exist. */
  BAD_ROLE = 'ERR_TEAM_ROLE',
  /** A key that is not this team's root key (or an admin of it). */
  WRONG_KEY = 'ERR_TEAM_WRONG_KEY'
}

export class TeamError extends AasError {
  constructor (message: string, code: TeamErrorCode) {
    super(message, code)
    this.name = 'TeamError'
  }
}

import { GossipAction, GossipActionError, type CompiledSpec, type Envelope, type RejectCode } from '../../protocol/index.js'
import { MembershipCode, MembershipError, type Member, type Membership, type Role } from '../../federation/index.js'

/**
 * The membership check every message and request goes through (default deny), where it is
 * validated: the signer's certificate must make it a member of this node's team or of a
 * partner's, valid now and not revoked, with the role the message type names (`member`: any
 * role). A refusal is a REJECT with the membership reason, so on gossip the sender's score
 * falls, and the caller counts and audits it.
 */
export type Authorize = (envelope: Envelope, spec: Pick<CompiledSpec, 'role' | 'type'>) => Promise<Member>

export function authorizer (membership: Membership): Authorize {
  return async (envelope, spec) => {
    try {
      const m = await membership.identify(envelope.from, envelope.cert)
      if (spec.role !== 'member' && !m.roles.includes(spec.role as Role)) {
        throw new MembershipError(`${m.peerId} (team "${m.team.name}", roles ${m.roles.join(',')}) may not send ${spec.type}: it needs the "${spec.role}" role`, MembershipCode.ROLE)
      }
      return m
    } catch (err) {
      if (err instanceof MembershipError) throw new GossipActionError(GossipAction.REJECT, err.reason as unknown as RejectCode, err.message)
      throw err
    }
  }
}

/** A refusal's reason, when it is a membership one (for the membership metric). */
export function membershipReason (err: unknown): string | undefined {
  const r = (err as GossipActionError)?.reason as string | undefined
  return r != null && MEMBERSHIP_REASONS.has(r) ? r : undefined
}

const MEMBERSHIP_REASONS = new Set(['no-certificate', 'bad-certificate', 'unknown-team', 'expired-certificate', 'certificate-subject', 'revoked', 'role', 'not-granted', 'not-origin', 'no-team'])

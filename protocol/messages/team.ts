import { Topics } from '../topics.js'
import type { MessageSpec } from '../registry.js'

/**
 * `team-revocation`: a node relays a revocation of a team key, signed by the team's root (or
 * by an admin, with its certificate): the inner signature is what counts, checked by the
 * node's team service (federation/ `verifyRevocation`). Any member may relay it.
 */
export interface TeamRevocationBody {
  /** The canonical encoding of the signed revocation, base64url. */
  revocation: string
}

export const teamRevocation: MessageSpec<TeamRevocationBody> = {
  type: 'team-revocation',
  topic: Topics.revocations,
  maxBytes: 4096,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['revocation'],
    properties: { revocation: { type: 'string', minLength: 16, maxLength: 2048, pattern: '^[A-Za-z0-9_-]+$' } }
  },
  role: 'member'
}

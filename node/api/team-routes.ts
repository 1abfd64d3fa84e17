import type { FastifyInstance } from 'fastify'
import type { Membership } from '../../federation/index.js'
import type { TeamService } from '../team/service.js'
import { sendError } from './skill-routes.js'

/**
 * The node's team: `GET /v1/team` (its team, partners and the revocations it knows) and
 * `POST /v1/team/revocations` (a revocation signed by the team's root or an admin, which the
 * node checks, applies and gossips; the signature is the authority, not the caller).
 */
export interface TeamRoutesComponents {
  membership: Membership
  team: TeamService
  self: string
}

export function teamRoutes (c: TeamRoutesComponents) {
  return (app: FastifyInstance): void => {
    app.get('/v1/team', async () => ({
      team: c.membership.team ?? null,
      partners: c.membership.partners().map(p => ({ name: p.team.name, rootKey: p.team.rootKey, grants: p.grants })),
      revocations: c.team.revocations()
    }))

    app.post('/v1/team/revocations', { bodyLimit: 16 * 1024 }, async (req, reply) => {
      const body = req.body as { revocation?: unknown } | null
      if (body == null || typeof body.revocation !== 'string' || body.revocation.length > 2048) {
        return await reply.code(400).send({ statusCode: 400, code: 'ERR_USAGE', error: 'UsageError', message: 'a revocation is {"revocation": "<base64url>"} as "aas team revoke" sends it' })
      }
      try {
        return await c.team.apply(body.revocation, c.self, true)
      } catch (err: any) {
        if (err?.name === 'MembershipError' || err?.name === 'TeamError') return await reply.code(422).send({ statusCode: 422, code: err.code, error: err.name, message: err.message })
        return sendError(reply, err)
      }
    })
  }
}

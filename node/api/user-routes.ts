import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AuthError, checkUserName, parseRoles, type Auth } from '../auth/index.js'
import { requireAdmin, sendAuthError } from './auth-routes.js'

/**
 * The node's people over HTTP, for `aas user` while the node runs (its LevelDB is locked then).
 * Every route needs the admin token or an admin's session (`requireAdmin`). Answers never
 * carry a password hash or a TOTP secret, except the `otpauthUri` of an enrolment, once.
 */
export interface UserRoutesComponents {
  auth: Auth
  /** The admin token this node wrote to `api.token`. */
  token: string
}

const actorOf = (req: FastifyRequest): string => req.person?.name ?? 'admin-token'

const addBody = {
  type: 'object',
  required: ['name', 'roles', 'password'],
  properties: {
    name: { type: 'string', maxLength: 64 },
    roles: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 8 },
    password: { type: 'string', maxLength: 1024 }
  }
} as const

export function userRoutes (c: UserRoutesComponents) {
  return (app: FastifyInstance): void => {
    void app.register(async (scope) => {
      scope.setErrorHandler(async (err, _req, reply) => {
        if (err instanceof AuthError) return await sendAuthError(reply, err)
        return await reply.send(err)
      })
      scope.addHook('preHandler', requireAdmin(c))
      // the guard is the scope's, not each route's: say so to the API token gate (access.ts)
      scope.addHook('onRoute', (route) => { route.config = { ...route.config, access: 'person' } })

      scope.post('/v1/users', { schema: { body: addBody } }, async (req, reply) => {
        const body = req.body as { name: string, roles: string[], password: string }
        const { user, otpauthUri } = await c.auth.addUser({ name: checkUserName(body.name), roles: parseRoles(body.roles), password: body.password }, { actor: actorOf(req) })
        return await reply.code(201).send({ ...user, otpauthUri })
      })

      scope.get('/v1/users', async () => ({ users: await c.auth.listUsers() }))

      scope.post('/v1/users/:name/disable', async (req) => await c.auth.disableUser((req.params as { name: string }).name, { actor: actorOf(req) }))

      scope.post('/v1/users/:name/unlock', async (req) => await c.auth.unlockUser((req.params as { name: string }).name, { actor: actorOf(req) }))

      scope.post('/v1/users/:name/reset-totp', async (req) => {
        const { user, otpauthUri } = await c.auth.resetTotp((req.params as { name: string }).name, { actor: actorOf(req) })
        return { ...user, otpauthUri }
      })
    })
  }
}

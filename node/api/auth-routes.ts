import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import { AuthError, AuthErrorCode, AUTH_HTTP_STATUS, bearerMatches, personActor, type Auth, type LoginGrant, type Role } from '../auth/index.js'
import { markPersonGuard } from './access.js'

/**
 * Login over HTTP and the guard every person-facing route uses. The session lives on the
 * server (node/auth); the browser holds only its random id, in the `aas_session` cookie:
 * HttpOnly (no script reads it), SameSite=Strict (no other site's page sends it), Path=/,
 * Secure when the node is told it sits behind TLS (`auth.secureCookies`), expiring with the
 * session. Every state-changing request also carries the session's CSRF token.
 */
export const SESSION_COOKIE = 'aas_session'
export const CSRF_HEADER = 'x-csrf-token'
/** The CSRF token of an HTML form (`application/x-www-form-urlencoded`). */
export const CSRF_FIELD = '_csrf'

/** The person a guarded request is from. */
export interface Person {
  name: string
  roles: Role[]
  /** The session's store key (a hash of the cookie's id): safe to log and audit. */
  sessionId: string
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by `requirePerson` on the requests it lets through. */
    person?: Person
  }
}

export interface AuthRoutesComponents { auth: Auth }

export interface AuthRoutesOptions {
  /** Mark the cookie Secure: the node is reached through TLS (a proxy in front). */
  secureCookies: boolean
  /** Login requests one address may make a minute, right or wrong (`@fastify/rate-limit`). */
  loginPerMinute: number
}

export const defaultAuthRoutesOptions: AuthRoutesOptions = { secureCookies: false, loginPerMinute: 30 }

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** An AuthError as the JSON answer `{statusCode, code, error, message}`, with `Retry-After` when it has one. */
export async function sendAuthError (reply: FastifyReply, err: AuthError): Promise<FastifyReply> {
  const status = AUTH_HTTP_STATUS[err.code]
  if (err.retryAfterS != null) void reply.header('retry-after', String(err.retryAfterS))
  return await reply.code(status).send({ statusCode: status, code: err.code, error: err.name, message: err.message })
}

const routeOf = (req: FastifyRequest): string => `${req.method} ${req.routeOptions.url ?? req.url}`

/** The CSRF token a request carries: the header, or the form field of an HTML form. */
function presentedCsrf (req: FastifyRequest): unknown {
  const h = req.headers[CSRF_HEADER]
  if (typeof h === 'string') return h
  const body = req.body as Record<string, unknown> | undefined
  return body != null && typeof body === 'object' ? body[CSRF_FIELD] : undefined
}

/** How a refusal is answered: JSON by default, a page for the reviewer pages. */
export type RefusalSender = (reply: FastifyReply, err: AuthError) => Promise<FastifyReply>

async function refuse (c: AuthRoutesComponents, req: FastifyRequest, reply: FastifyReply, who: string, err: AuthError, send: RefusalSender = sendAuthError): Promise<FastifyReply> {
  c.auth.noteRefused(who, err.code, routeOf(req))
  return await send(reply, err)
}

const sessionCookieOptions = (secure: boolean) => ({ path: '/', httpOnly: true, sameSite: 'strict' as const, secure })

/**
 * Gives the browser the session of a fresh login: a new id at every login, and whatever session
 * the browser brought is ended, never adopted. `secure` is `auth.secureCookies`.
 */
export async function setSessionCookie (auth: Pick<Auth, 'dropSession'>, req: FastifyRequest, reply: FastifyReply, grant: LoginGrant, secure: boolean): Promise<void> {
  await auth.dropSession(req.cookies?.[SESSION_COOKIE])
  void reply.setCookie(SESSION_COOKIE, grant.token, { ...sessionCookieOptions(secure), expires: new Date(grant.session.expiresAt) })
}

export function clearSessionCookie (reply: FastifyReply, secure: boolean): void {
  void reply.clearCookie(SESSION_COOKIE, sessionCookieOptions(secure))
}

/**
 * A preHandler that lets a request through only from a person with a live session (and `role`,
 * when given), and — for POST, PUT, PATCH, DELETE — the session's CSRF token. It sets
 * `request.person`. A refusal answers 401 (no session) or 403 (role, CSRF) `{code, message}` and
 * is audited as `auth.refused` with the person (or the address) and the route.
 */
export function requirePerson (c: AuthRoutesComponents, opts: { role?: Role, send?: RefusalSender } = {}): preHandlerAsyncHookHandler {
  // its routes authenticate people by session: the API token is not asked of them (access.ts)
  return markPersonGuard(async function (req, reply) {
    const s = await c.auth.session(req.cookies?.[SESSION_COOKIE])
    if (s == null) return await refuse(c, req, reply, req.ip, new AuthError('log in first: no session, or it expired (aas login, or the login page)', AuthErrorCode.NO_SESSION), opts.send)
    if (opts.role != null && !s.roles.includes(opts.role)) return await refuse(c, req, reply, personActor(s.user), new AuthError(`this needs the ${opts.role} role, which ${s.user} does not have`, AuthErrorCode.FORBIDDEN), opts.send)
    if (!SAFE_METHODS.has(req.method) && !c.auth.checkCsrf(s, presentedCsrf(req))) {
      return await refuse(c, req, reply, personActor(s.user), new AuthError(`a ${req.method} needs the session's CSRF token (header ${CSRF_HEADER}, or form field ${CSRF_FIELD})`, AuthErrorCode.CSRF), opts.send)
    }
    req.person = { name: s.user, roles: [...s.roles], sessionId: s.id }
  } as preHandlerAsyncHookHandler)
}

const loginBody = {
  type: 'object',
  required: ['user', 'password', 'code'],
  properties: {
    user: { type: 'string', maxLength: 64 },
    password: { type: 'string', maxLength: 1024 },
    code: { type: 'string', maxLength: 16 }
  }
} as const

export function authRoutes (c: AuthRoutesComponents, options: Partial<AuthRoutesOptions> = {}) {
  const o = { ...defaultAuthRoutesOptions, ...options }

  return (app: FastifyInstance): void => {
    void app.register(async (scope) => {
      // per address, before any password is hashed: a flood costs the node no scrypt
      await scope.register(rateLimit, {
        global: false,
        errorResponseBuilder: (req, ctx) => {
          c.auth.noteRateLimited(req.ip)
          return { statusCode: 429, code: AuthErrorCode.THROTTLED, error: 'AuthError', message: `too many login requests from this address: try again in ${ctx.after}` }
        }
      })

      scope.post('/v1/auth/login', { schema: { body: loginBody }, config: { access: 'person', rateLimit: { max: o.loginPerMinute, timeWindow: 60_000 } } }, async (req, reply) => {
        const body = req.body as { user: string, password: string, code: string }
        let grant
        try {
          grant = await c.auth.login({ user: body.user, password: body.password, code: body.code, address: req.ip })
        } catch (err) {
          if (err instanceof AuthError) return await sendAuthError(reply, err)
          throw err
        }
        await setSessionCookie(c.auth, req, reply, grant, o.secureCookies)
        const s = grant.session
        return { user: s.user, roles: s.roles, csrf: s.csrf, expiresAt: new Date(s.expiresAt).toISOString() }
      })

      scope.get('/v1/auth/session', { preHandler: requirePerson(c) }, async (req) => {
        const s = await c.auth.session(req.cookies[SESSION_COOKIE])
        return { user: s?.user, roles: s?.roles, csrf: s?.csrf, expiresAt: s != null ? new Date(s.expiresAt).toISOString() : null }
      })

      scope.post('/v1/auth/logout', { preHandler: requirePerson(c) }, async (req, reply) => {
        await c.auth.logout(req.cookies[SESSION_COOKIE], req.ip)
        clearSessionCookie(reply, o.secureCookies)
        return { ok: true }
      })
    })
  }
}

/**
 * User management: the node's admin token (`Authorization: Bearer`, from `api.token` in the
 * data dir: what `aas user` sends), or the session of a person with the admin role (and its
 * CSRF token). Sets `request.person` for a session; the audit's actor is the person or `admin-token`.
 */
export function requireAdmin (c: AuthRoutesComponents & { token: string }): preHandlerAsyncHookHandler {
  const asPerson = requirePerson(c, { role: 'admin' })
  // the admin token or an admin's session: either way not the API token gate's business (access.ts)
  return markPersonGuard(async function (req, reply) {
    if (bearerMatches(req.headers.authorization, c.token)) return
    if (req.headers.authorization != null || req.cookies?.[SESSION_COOKIE] == null) {
      return await refuse(c, req, reply, req.ip, new AuthError('user management needs the node\'s admin token (the api.token file in its data dir) or an admin\'s session', AuthErrorCode.ADMIN_TOKEN))
    }
    return await asPerson.call(this, req, reply)
  } as preHandlerAsyncHookHandler)
}

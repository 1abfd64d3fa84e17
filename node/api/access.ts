import { isIP } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import { AuthError, AuthErrorCode, AUTH_HTTP_STATUS, bearerMatches } from '../auth/index.js'

/**
 * Who may talk to the HTTP API at all, checked on every request before any route runs
 * (issue 9, "Abuse limits"):
 *
 * - **Host**: a web page can point a name it controls at 127.0.0.1 (DNS rebinding) and then
 *   read the API as if it were its own origin; its requests still carry its own name in `Host`.
 *   So the API answers only requests whose `Host` is an IP address (a rebinding page cannot
 *   have one: its origin would then be that address itself), `localhost`, the name it is bound
 *   to, or a name in `apiAllowedHosts` (the name a proxy or people use for it). Anything else is
 *   421 `ERR_HOST_NOT_ALLOWED`.
 * - **Token**: bound beyond loopback (0.0.0.0, a LAN address), anyone who reaches the port could
 *   otherwise submit tasks and read outputs. Every request then needs `Authorization: Bearer`
 *   with the node's token (`api.token` in its data dir, mode 0600: who can read the node's data
 *   can use its API), else 401 `ERR_API_TOKEN` — except the routes that authenticate people
 *   themselves (login, the reviewer's pages and calls: a session cookie and its CSRF token) and
 *   `/healthz`. A route says so in its `config.access`; a route guarded by `requirePerson` or
 *   `requireAdmin` is marked by itself (`markPersonGuard`). Unmarked routes need the token:
 *   a new route is closed until it says otherwise.
 *
 * On loopback only the Host check applies: local processes are trusted as before.
 */
export type RouteAccess = 'token' | 'person' | 'public'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** How the route's caller is authenticated when the API is bound beyond loopback [token]. */
    access?: RouteAccess
  }
}

export interface ApiAccessOptions {
  /** The address the API listens on (HOST of `api`). */
  listenHost: string
  /** Host names (besides IP addresses, `localhost` and `listenHost`) the API answers to. */
  allowedHosts: string[]
  /** The node's API token; requests carry it when the API is bound beyond loopback. */
  token: string
  /** Told of each refusal (the audit trail's flood-safe record): the address, the code, the route. */
  onRefused?: (who: string, code: AuthErrorCode, route: string) => void
}

const PERSON_GUARD = Symbol.for('aas.api.personGuard')

/** Marks a preHandler that authenticates a person (a session) itself: its routes skip the token. */
export function markPersonGuard<F extends object> (fn: F): F {
  (fn as Record<symbol, boolean>)[PERSON_GUARD] = true
  return fn
}

const isPersonGuard = (h: unknown): boolean => typeof h === 'function' && (h as unknown as Record<symbol, unknown>)[PERSON_GUARD] === true

/** Whether `host` (an address or name the API listens on) is reachable only from this machine. */
export function isLoopbackHost (host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '')
  if (h === 'localhost') return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) return h === '::1' || /^::ffff:127\./.test(h)
  return false
}

/** The host part of a `Host` header (`[::1]:7401` → `::1`, `Name.:80` → `name`), or undefined. */
export function hostName (header: unknown): string | undefined {
  if (typeof header !== 'string' || header === '' || header.length > 255) return undefined
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]/@\s]+))(?::\d{1,5})?$/.exec(header)
  if (m == null) return undefined
  return (m[1] ?? m[2]).toLowerCase().replace(/\.$/, '')
}

/** Installs the Host check and the token gate on `app`: call before any route is added. */
export function apiAccess (app: FastifyInstance, o: ApiAccessOptions): void {
  const names = new Set(['localhost', ...o.allowedHosts, o.listenHost].map(n => n.toLowerCase().replace(/^\[|\]$/g, '').replace(/\.$/, '')))
  const needsToken = !isLoopbackHost(o.listenHost)

  // a route whose own preHandler authenticates people needs no token
  app.addHook('onRoute', (route: RouteOptions) => {
    const handlers = Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler]
    if (route.config?.access == null && handlers.some(isPersonGuard)) route.config = { ...route.config, access: 'person' }
  })

  const refuse = async (req: FastifyRequest, reply: FastifyReply, err: AuthError): Promise<FastifyReply> => {
    o.onRefused?.(req.ip, err.code, `${req.method} ${req.routeOptions.url ?? '(no route)'}`)
    if (err.code === AuthErrorCode.API_TOKEN) void reply.header('www-authenticate', 'Bearer')
    // the JSON answer of every auth refusal (auth-routes.ts sendAuthError)
    const status = AUTH_HTTP_STATUS[err.code]
    return await reply.code(status).send({ statusCode: status, code: err.code, error: err.name, message: err.message })
  }

  app.addHook('onRequest', async (req, reply) => {
    const host = hostName(req.headers.host)
    if (host == null || (isIP(host) === 0 && !names.has(host))) {
      return await refuse(req, reply, new AuthError(`this node's API does not answer to the name ${JSON.stringify(host ?? req.headers.host ?? '')}: ` +
        'use its IP address or localhost, or add the name to apiAllowedHosts', AuthErrorCode.HOST))
    }
    if (!needsToken) return
    const access = req.routeOptions.config?.access ?? 'token'
    if (access !== 'token' || bearerMatches(req.headers.authorization, o.token)) return
    return await refuse(req, reply, new AuthError('this node\'s API is reachable beyond loopback: send "Authorization: Bearer TOKEN" with the api.token file ' +
      'in its data dir (aas reads it with --data DIR, or from the file AAS_API_TOKEN_FILE names)', AuthErrorCode.API_TOKEN))
  })
}

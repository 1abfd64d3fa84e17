import Fastify, { type FastifyInstance } from 'fastify'
import cookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import { parseHostPort } from '../config/index.js'
import { ListenError } from '../errors.js'
import { apiAccess, type ApiAccessOptions } from './access.js'

/**
 * The node's HTTP API (fastify). Bound to loopback by default; every request's `Host` is
 * checked, and bound beyond loopback every request needs the node's API token, except the
 * routes that authenticate people themselves (access.ts). Parts add their routes through
 * `routes` before `start`; the server itself knows none of them.
 */
export type RoutePlugin = (app: FastifyInstance) => void

export interface ApiServerInit {
  /** HOST:PORT; port 0 picks a free port. */
  listen: string
  /** Largest request body, bytes. */
  bodyLimit?: number
  /** Who may call it (access.ts): the token, the extra host names, where refusals are told. */
  access: Omit<ApiAccessOptions, 'listenHost'>
}

export class ApiServer {
  readonly app: FastifyInstance
  private readonly init: ApiServerInit
  private url: string | undefined

  constructor (init: ApiServerInit, routes: RoutePlugin[]) {
    this.init = init
    this.app = Fastify({ logger: false, bodyLimit: init.bodyLimit ?? 1024 * 1024 })
    // cookies (the login session) and HTML forms (the reviewer pages) for every route set
    void this.app.register(cookie)
    void this.app.register(formbody)
    // before any route: its onRoute hook reads each route's guard
    apiAccess(this.app, { ...init.access, listenHost: parseHostPort(init.listen).host })
    for (const r of routes) r(this.app)
  }

  async start (): Promise<string> {
    const { host, port } = parseHostPort(this.init.listen)
    try {
      await this.app.listen({ host, port })
    } catch (err: any) {
      if (err.code === 'EADDRINUSE') throw new ListenError(`API address ${this.init.listen} is already in use: stop what holds it or choose another with --api HOST:PORT`, 'ERR_ADDRESS_IN_USE')
      throw new ListenError(`cannot serve the API on ${this.init.listen}: ${err.code ?? err.message}`, 'ERR_LISTEN')
    }
    const addr = this.app.server.address()
    if (addr == null || typeof addr === 'string') throw new ListenError('API server has no TCP address', 'ERR_LISTEN')
    const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    this.url = `http://${h}:${addr.port}`
    return this.url
  }

  get address (): string | undefined {
    return this.url
  }

  async stop (): Promise<void> {
    await this.app.close()
  }
}

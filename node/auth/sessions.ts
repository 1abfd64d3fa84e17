import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Db } from '../store/index.js'
import type { Role } from './users.js'
import { decodeJson } from './users.js'

/**
 * Server-side sessions (`sessions` bucket). The cookie carries a random 32-byte id; the store
 * keys the session by the id's SHA-256, so a copy of the database holds no id a browser could
 * present. Each session has its own CSRF token, fixed for its life.
 */
export const SESSION_ID_BYTES = 32

export interface SessionRecord {
  user: string
  /** Roles at login. */
  roles: Role[]
  csrf: string
  createdAt: number
  expiresAt: number
  address: string
}

/** A session as the guard hands it on: `id` is the store key (the id's hash), safe to log. */
export interface Session extends SessionRecord { id: string }

export const newSessionToken = (): string => randomBytes(SESSION_ID_BYTES).toString('base64url')
export const newCsrfToken = (): string => randomBytes(32).toString('base64url')
export const sessionKey = (token: string): string => createHash('sha256').update(token).digest('base64url')

/**
 * CSRF check: the synchronizer token pattern (OWASP's first choice where sessions live on the
 * server), compared in constant time. Not `@fastify/csrf-protection`: with `@fastify/cookie`
 * alone it keeps its secret in a second cookie (double submit), which a server-side session
 * makes unnecessary; here the token is bound to the session and dies with it.
 */
export function csrfMatches (session: Pick<SessionRecord, 'csrf'>, presented: unknown): boolean {
  if (typeof presented !== 'string' || presented === '') return false
  const a = Buffer.from(presented)
  const b = Buffer.from(session.csrf)
  return a.length === b.length && timingSafeEqual(a, b)
}

export class SessionStore {
  constructor (private readonly db: Db) {}

  async get (key: string): Promise<SessionRecord | undefined> {
    const v = await this.db.get(key)
    return v === undefined ? undefined : decodeJson<SessionRecord>(v)
  }

  /** Keys of sessions for which `match` holds. */
  async keys (match: (s: SessionRecord) => boolean): Promise<string[]> {
    const out: string[] = []
    for await (const [k, v] of this.db.iterator()) if (match(decodeJson<SessionRecord>(v))) out.push(k)
    return out
  }
}

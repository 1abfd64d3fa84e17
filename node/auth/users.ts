import type { Db } from '../store/index.js'
import { AuthError, AuthErrorCode } from './errors.js'

/**
 * The people of this node (issue 10 "People"): who may log in to review or approve, kept in the
 * node's own LevelDB (`users` bucket), one JSON record per name. The password hash and the TOTP
 * secret never leave the data dir: `publicUser` is what lists and answers show.
 */
export const ROLES = ['reviewer', 'approver', 'admin'] as const
export type Role = typeof ROLES[number]

export const USER_NAME = /^[a-z][a-z0-9._-]{1,31}$/

export interface UserRecord {
  name: string
  roles: Role[]
  /** `scrypt$…` (passwords.ts) */
  passwordHash: string
  /** base32 */
  totpSecret: string
  /** The last TOTP step accepted (−1: none): a code is accepted once. */
  lastStep: number
  disabled: boolean
  createdAt: number
  /** Times of recent failed logins (the throttle's window), oldest first. */
  failures: number[]
  /** 0, or the time the lock ends. */
  lockedUntil: number
}

export interface PublicUser {
  name: string
  roles: Role[]
  disabled: boolean
  createdAt: string
  /** ISO time the lock ends, when locked now. */
  lockedUntil: string | null
}

export function publicUser (u: UserRecord, now: number): PublicUser {
  return { name: u.name, roles: [...u.roles], disabled: u.disabled, createdAt: new Date(u.createdAt).toISOString(), lockedUntil: u.lockedUntil > now ? new Date(u.lockedUntil).toISOString() : null }
}

export function checkUserName (name: string): string {
  if (!USER_NAME.test(name)) throw new AuthError(`"${name}" is not a user name: 2 to 32 characters, lowercase letters, digits, ".", "_" or "-", starting with a letter`, AuthErrorCode.BAD_NAME)
  return name
}

/** Roles from a list that may hold comma lists (`--role reviewer,approver --role admin`), deduplicated. */
export function parseRoles (values: readonly string[]): Role[] {
  const roles = new Set<Role>()
  for (const v of values.flatMap(s => s.split(',')).map(s => s.trim()).filter(s => s !== '')) {
    if (!(ROLES as readonly string[]).includes(v)) throw new AuthError(`"${v}" is not a role: use ${ROLES.join(', ')}`, AuthErrorCode.BAD_ROLE)
    roles.add(v as Role)
  }
  if (roles.size === 0) throw new AuthError(`give at least one role: ${ROLES.join(', ')}`, AuthErrorCode.BAD_ROLE)
  return ROLES.filter(r => roles.has(r))
}

const enc = new TextEncoder()
const dec = new TextDecoder()

export const encodeJson = (v: unknown): Uint8Array => enc.encode(JSON.stringify(v))
export const decodeJson = <T>(b: Uint8Array): T => JSON.parse(dec.decode(b)) as T

/** The `users` bucket, by name. Writes go through the caller's batch (with their audit entry). */
export class UserStore {
  constructor (private readonly db: Db) {}

  async get (name: string): Promise<UserRecord | undefined> {
    const v = await this.db.get(name)
    return v === undefined ? undefined : decodeJson<UserRecord>(v)
  }

  async require (name: string): Promise<UserRecord> {
    const u = USER_NAME.test(name) ? await this.get(name) : undefined
    if (u == null) throw new AuthError(`no user "${name}" on this node`, AuthErrorCode.NO_SUCH_USER)
    return u
  }

  async list (): Promise<UserRecord[]> {
    const out: UserRecord[] = []
    for await (const v of this.db.values()) out.push(decodeJson<UserRecord>(v))
    return out
  }
}

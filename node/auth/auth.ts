import { hostname } from 'node:os'
import type { AuditLog } from '../audit/index.js'
import { RejectAuditor } from '../audit/index.js'
import { Bucket, type NodeStore, type StoreOp } from '../store/index.js'
import type { Logger } from '../log.js'
import type { Metrics } from '../metrics.js'
import { AuthError, AuthErrorCode } from './errors.js'
import { defaultScryptParams, hashPassword, MIN_PASSWORD_CHARS, verifyPassword, type ScryptParams } from './passwords.js'
import { acceptTotp, newTotpSecret, totpUri } from './totp.js'

/** People act as `user:NAME` in the audit trail and on tasks (peers by their peer id). */
export const personActor = (name: string): string => `user:${name}`
import { AddressFailures, defaultThrottleOptions, recentFailures, throttleWait, type ThrottleOptions } from './throttle.js'
import { checkUserName, encodeJson, publicUser, UserStore, type PublicUser, type Role, type UserRecord } from './users.js'
import { csrfMatches, newCsrfToken, newSessionToken, sessionKey, SessionStore, type Session, type SessionRecord } from './sessions.js'

/**
 * People, login and sessions of one node. Every change of a user or a session is written in one
 * LevelDB batch with its audit entry. Logins are serialised per user, so two tries with the
 * same code cannot both take it, and a failure's count cannot be lost between read and write.
 */
export const LOGIN_RESULTS = ['ok', 'bad-credentials', 'throttled', 'locked', 'disabled'] as const
export type LoginResult = typeof LOGIN_RESULTS[number]

export interface AuthComponents {
  store: Pick<NodeStore, 'sublevel' | 'write'>
  audit: Pick<AuditLog, 'write' | 'append'>
  metrics: Pick<Metrics, 'authLogins'> | null
  log?: Logger
  now?: () => number
}

export interface AuthOptions {
  sessionTtlMs: number
  throttle: ThrottleOptions
  /** Cost of new password hashes (old ones verify with their own). */
  scrypt: ScryptParams
  /** The host part of the TOTP label `<host>:<user>` an authenticator app shows. */
  totpHost: string
  /** Password hashes computed at once (each takes 128 MiB at the default cost). */
  maxConcurrentHashes: number
}

export const defaultAuthOptions = (): AuthOptions => ({
  sessionTtlMs: 8 * 3600_000,
  throttle: defaultThrottleOptions,
  scrypt: defaultScryptParams,
  totpHost: hostname(),
  maxConcurrentHashes: 2
})

export interface LoginRequest { user: string, password: string, code: string, address: string }

/** What a login gives: `token` goes in the cookie and nowhere else. */
export interface LoginGrant { token: string, session: Session }

export interface Enrolment { user: PublicUser, otpauthUri: string }

/** Who asked for a change of users: the admin token, an admin's session, or a local CLI. */
export interface ActorInit { actor?: string }

const BAD_CREDENTIALS = 'wrong user name, password or code'

export class Auth {
  readonly options: AuthOptions
  private readonly users: UserStore
  private readonly sessions: SessionStore
  private readonly now: () => number
  private readonly addresses: AddressFailures
  private readonly loginFailures: RejectAuditor
  private readonly refusals: RejectAuditor
  private readonly queues = new Map<string, Promise<unknown>>()
  private hashing = 0
  private readonly hashWaiters: Array<() => void> = []
  private dummy: Promise<string> | undefined
  private timer: NodeJS.Timeout | undefined
  /** Roles of the users who are not disabled, for `hasRole` (asked synchronously by the task origin). */
  private readonly roleHolders = new Map<string, Role[]>()

  constructor (private readonly c: AuthComponents, opts: Partial<AuthOptions> = {}) {
    this.options = { ...defaultAuthOptions(), ...opts }
    this.users = new UserStore(c.store.sublevel(Bucket.users))
    this.sessions = new SessionStore(c.store.sublevel(Bucket.sessions))
    this.now = c.now ?? Date.now
    this.addresses = new AddressFailures(this.options.throttle)
    // failed logins and refused requests are audited without letting a flood grow the log:
    // the first of a minute per address (or person) at once, the rest as one summary
    this.loginFailures = new RejectAuditor({
      audit: c.audit,
      now: this.now,
      toRecord: (address, d) => d.summary === true
        ? { action: 'auth.login', subject: address, actor: address, details: { result: 'failed', address, summary: true, windowStart: d.windowStart, counts: d.counts, count: d.count } }
        : { action: 'auth.login', subject: String(d.channel), actor: address, details: { result: d.reason, user: d.channel, address } }
    })
    this.refusals = new RejectAuditor({
      audit: c.audit,
      now: this.now,
      toRecord: (who, d) => d.summary === true
        ? { action: 'auth.refused', subject: who, actor: who, details: { summary: true, windowStart: d.windowStart, counts: d.counts, count: d.count } }
        : { action: 'auth.refused', subject: String(d.channel), actor: who, details: { reason: d.reason, route: d.channel } }
    })
  }

  /** Reads who holds which role. */
  async open (): Promise<void> {
    this.roleHolders.clear()
    for (const u of await this.users.list()) if (!u.disabled) this.roleHolders.set(u.name, u.roles)
  }

  /** Whether a user who is not disabled holds `role`. */
  hasRole (role: string): boolean {
    for (const roles of this.roleHolders.values()) if ((roles as string[]).includes(role)) return true
    return false
  }

  /** Starts the sweeps: expired sessions, audit summaries. */
  start (): void {
    this.loginFailures.start()
    this.refusals.start()
    void this.sweepSessions().catch((err) => { this.c.log?.warn({ err }, 'session sweep failed') })
    this.timer = setInterval(() => { void this.sweepSessions().catch(() => {}) }, 10 * 60_000)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.loginFailures.stop()
    this.refusals.stop()
  }

  // ---- people ----

  async addUser (init: { name: string, roles: Role[], password: string }, by: ActorInit = {}): Promise<Enrolment> {
    const name = checkUserName(init.name)
    checkPassword(init.password)
    if (init.roles.length === 0) throw new AuthError('give at least one role', AuthErrorCode.BAD_ROLE)
    const passwordHash = await this.hashLimited(init.password)
    return await this.serial(name, async () => {
      if (await this.users.get(name) != null) throw new AuthError(`user "${name}" already exists: disable it, or reset its TOTP with "aas user reset-totp ${name}"`, AuthErrorCode.USER_EXISTS)
      const now = this.now()
      const u: UserRecord = { name, roles: [...init.roles], passwordHash, totpSecret: newTotpSecret(), lastStep: -1, disabled: false, createdAt: now, failures: [], lockedUntil: 0 }
      await this.c.audit.write([{ action: 'user.added', subject: name, actor: by.actor, details: { roles: u.roles } }], [this.putUser(u)], { sync: true })
      this.roleHolders.set(name, u.roles)
      return { user: publicUser(u, now), otpauthUri: totpUri(u.totpSecret, `${this.options.totpHost}:${name}`) }
    })
  }

  async listUsers (): Promise<PublicUser[]> {
    const now = this.now()
    return (await this.users.list()).map(u => publicUser(u, now))
  }

  /** Disables a user and ends every session of theirs, in one batch. */
  async disableUser (name: string, by: ActorInit = {}): Promise<PublicUser> {
    return await this.serial(name, async () => {
      const u = { ...await this.users.require(name), disabled: true }
      const ended = await this.endSessionsOps(name)
      await this.c.audit.write([{ action: 'user.disabled', subject: name, actor: by.actor, details: { sessionsEnded: ended.length } }], [this.putUser(u), ...ended], { sync: true })
      this.roleHolders.delete(name)
      return publicUser(u, this.now())
    })
  }

  /**
   * A new TOTP secret (a lost phone): the old codes stop working, the user's sessions end, and a
   * lock or failure count is cleared, since the person now enrols afresh.
   */
  async resetTotp (name: string, by: ActorInit = {}): Promise<Enrolment> {
    return await this.serial(name, async () => {
      const u: UserRecord = { ...await this.users.require(name), totpSecret: newTotpSecret(), lastStep: -1, failures: [], lockedUntil: 0 }
      const ended = await this.endSessionsOps(name)
      await this.c.audit.write([{ action: 'user.totp-reset', subject: name, actor: by.actor, details: { sessionsEnded: ended.length } }], [this.putUser(u), ...ended], { sync: true })
      return { user: publicUser(u, this.now()), otpauthUri: totpUri(u.totpSecret, `${this.options.totpHost}:${name}`) }
    })
  }

  /** Ends a lock and forgets the user's recent failures. */
  async unlockUser (name: string, by: ActorInit = {}): Promise<PublicUser> {
    return await this.serial(name, async () => {
      const u: UserRecord = { ...await this.users.require(name), failures: [], lockedUntil: 0 }
      await this.c.audit.write([{ action: 'user.unlocked', subject: name, actor: by.actor }], [this.putUser(u)], { sync: true })
      return publicUser(u, this.now())
    })
  }

  // ---- login ----

  /**
   * Checks name, password and code, in that order of cost but always all of them, and opens a
   * session. Any failure of the three is BAD_CREDENTIALS; a user name that does not exist costs
   * the same scrypt as one that does.
   */
  async login (req: LoginRequest): Promise<LoginGrant> {
    try {
      const grant = await this.loginOnce(req)
      this.c.metrics?.authLogins.inc({ result: 'ok' })
      return grant
    } catch (err) {
      if (err instanceof AuthError) {
        const result = loginResult(err.code)
        this.c.metrics?.authLogins.inc({ result })
        this.loginFailures.note(req.address, result, typeof req.user === 'string' ? req.user.slice(0, 64) : '?')
      }
      throw err
    }
  }

  private async loginOnce ({ user: name, password, code, address }: LoginRequest): Promise<LoginGrant> {
    const known = typeof name === 'string' && /^[a-z][a-z0-9._-]{1,31}$/.test(name)
    return await this.serial(known ? name : '\0unknown', async () => {
      const now = this.now()
      const u = known ? await this.users.get(name) : undefined
      if (u != null && u.lockedUntil > now) {
        throw new AuthError(`user "${name}" is locked after repeated failed logins: try again later or ask an admin ("aas user unlock ${name}")`, AuthErrorCode.LOCKED, { retryAfterS: Math.ceil((u.lockedUntil - now) / 1000) })
      }
      const wait = Math.max(this.addresses.wait(address, now), u != null ? throttleWait(u.failures, now, this.options.throttle) : 0)
      if (wait > 0) throw new AuthError('too many failed logins: wait before trying again', AuthErrorCode.THROTTLED, { retryAfterS: Math.ceil(wait / 1000) })

      const passwordOk = await this.verifyLimited(typeof password === 'string' ? password : '', u?.passwordHash ?? await this.dummyHash())
      const step = u != null && typeof code === 'string' ? acceptTotp(u.totpSecret, code, now, u.lastStep) : undefined
      if (u == null || !passwordOk || step === undefined) {
        this.addresses.note(address, now)
        if (u != null) await this.noteFailure(u, now)
        throw new AuthError(BAD_CREDENTIALS, AuthErrorCode.BAD_CREDENTIALS)
      }
      if (u.disabled) throw new AuthError(`user "${name}" is disabled`, AuthErrorCode.DISABLED)

      const token = newSessionToken()
      const record: SessionRecord = { user: u.name, roles: [...u.roles], csrf: newCsrfToken(), createdAt: now, expiresAt: now + this.options.sessionTtlMs, address }
      const key = sessionKey(token)
      await this.c.audit.write(
        [{ action: 'auth.login', subject: u.name, actor: personActor(u.name), details: { result: 'ok', address, expiresAt: record.expiresAt } }],
        [this.putUser({ ...u, lastStep: step, failures: [] }), { type: 'put', bucket: Bucket.sessions, key, value: encodeJson(record) }],
        { sync: true }
      )
      return { token, session: { ...record, id: key } }
    })
  }

  /** One more failure; the one that reaches `lockAfter` locks the user (synced: a restart keeps it). */
  private async noteFailure (u: UserRecord, now: number): Promise<void> {
    const o = this.options.throttle
    const failures = [...recentFailures(u.failures, now, o), now]
    if (failures.length >= o.lockAfter) {
      await this.c.store.write([this.putUser({ ...u, failures: [], lockedUntil: now + o.lockMs })], { sync: true })
      this.c.log?.warn({ user: u.name }, 'user locked after repeated failed logins')
    } else {
      await this.c.store.write([this.putUser({ ...u, failures })])
    }
  }

  // ---- sessions ----

  /** The live session of a cookie's token; an expired one, or one of a disabled user, is ended. */
  async session (token: string | undefined): Promise<Session | undefined> {
    if (typeof token !== 'string' || token === '' || token.length > 128) return undefined
    const key = sessionKey(token)
    const s = await this.sessions.get(key)
    if (s == null) return undefined
    const u = s.expiresAt > this.now() ? await this.users.get(s.user) : undefined
    if (u == null || u.disabled) {
      await this.c.store.write([{ type: 'del', bucket: Bucket.sessions, key }])
      return undefined
    }
    return { ...s, id: key }
  }

  /** Ends the session of `token`, if any (also the one a browser presents at login). */
  async logout (token: string | undefined, address: string): Promise<boolean> {
    const s = await this.session(token)
    if (s == null) return false
    await this.c.audit.write([{ action: 'auth.logout', subject: s.user, actor: personActor(s.user), details: { address } }], [{ type: 'del', bucket: Bucket.sessions, key: s.id }])
    return true
  }

  /** Drops a session without an audit entry of its own (the login that replaces it has one). */
  async dropSession (token: string | undefined): Promise<void> {
    if (typeof token !== 'string' || token === '' || token.length > 128) return
    await this.c.store.write([{ type: 'del', bucket: Bucket.sessions, key: sessionKey(token) }])
  }

  checkCsrf (session: Session, presented: unknown): boolean {
    return csrfMatches(session, presented)
  }

  /** A refused request, audited flood-safely: `who` is the person or the address, `route` what was asked. */
  noteRefused (who: string, code: AuthErrorCode, route: string): void {
    this.refusals.note(who, code, route)
  }

  /** A login refused before it reached `login` (the per-address request limit). */
  noteRateLimited (address: string): void {
    this.c.metrics?.authLogins.inc({ result: 'throttled' })
    this.loginFailures.note(address, 'throttled', '?')
  }

  async sweepSessions (): Promise<number> {
    const now = this.now()
    const expired = await this.sessions.keys(s => s.expiresAt <= now)
    if (expired.length > 0) await this.c.store.write(expired.map(key => ({ type: 'del', bucket: Bucket.sessions, key })))
    return expired.length
  }

  // ---- helpers ----

  private putUser (u: UserRecord): StoreOp {
    return { type: 'put', bucket: Bucket.users, key: u.name, value: encodeJson(u) }
  }

  private async endSessionsOps (name: string): Promise<StoreOp[]> {
    return (await this.sessions.keys(s => s.user === name)).map(key => ({ type: 'del', bucket: Bucket.sessions, key }))
  }

  /** Runs `fn` after every earlier call for the same user has ended. */
  private async serial<T> (name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(name) ?? Promise.resolve()
    const run = prev.then(fn, fn)
    const tail = run.catch(() => {})
    this.queues.set(name, tail)
    try {
      return await run
    } finally {
      if (this.queues.get(name) === tail) this.queues.delete(name)
    }
  }

  private async limited<T> (fn: () => Promise<T>): Promise<T> {
    while (this.hashing >= this.options.maxConcurrentHashes) await new Promise<void>(resolve => { this.hashWaiters.push(resolve) })
    this.hashing++
    try {
      return await fn()
    } finally {
      this.hashing--
      this.hashWaiters.shift()?.()
    }
  }

  private async hashLimited (password: string): Promise<string> {
    return await this.limited(async () => await hashPassword(password, this.options.scrypt))
  }

  private async verifyLimited (password: string, stored: string): Promise<boolean> {
    return await this.limited(async () => await verifyPassword(password, stored))
  }

  /** A hash no password matches in practice, at the current cost: unknown names take as long as known ones. */
  private async dummyHash (): Promise<string> {
    this.dummy ??= this.hashLimited(newCsrfToken())
    return await this.dummy
  }
}

export function checkPassword (password: unknown): string {
  if (typeof password !== 'string' || [...password].length < MIN_PASSWORD_CHARS) {
    throw new AuthError(`the password is too short: use at least ${MIN_PASSWORD_CHARS} characters`, AuthErrorCode.WEAK_PASSWORD)
  }
  return password
}

function loginResult (code: AuthErrorCode): LoginResult {
  switch (code) {
    case AuthErrorCode.THROTTLED: return 'throttled'
    case AuthErrorCode.LOCKED: return 'locked'
    case AuthErrorCode.DISABLED: return 'disabled'
    default: return 'bad-credentials'
  }
}


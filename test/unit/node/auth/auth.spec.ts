import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { URI, type TOTP } from 'otpauth'
import { Auth, AuthError, AuthErrorCode, totpCode, totpStep, type AuthOptions, type Enrolment } from '../../../../node/auth/index.js'
import { AuditLog } from '../../../../node/audit/index.js'
import { NodeStore } from '../../../../node/store/index.js'
import { Signer } from '../../../../node/signer.js'
import { createLogger } from '../../../../node/log.js'
import { createMetrics } from '../../../../node/metrics.js'
import { tempDir, waitFor } from '../../../utils/cli-node.js'

/**
 * People, login, throttling and sessions over a real LevelDB in a temp dir and a real audit log,
 * with an injected clock. "Restart" is closing the store and opening a new Auth on the same dir.
 */
describe('node/auth: users, login, throttle, sessions', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>
  let store: NodeStore
  let audit: AuditLog
  let auth: Auth
  let signer: Signer
  let metrics: ReturnType<typeof createMetrics>
  let t: number
  const log = createLogger('silent')
  // a cheap hash cost keeps the suite quick; the default cost has its own test (passwords.spec)
  const opts: Partial<AuthOptions> = { scrypt: { logN: 10, r: 8, p: 1 }, sessionTtlMs: 3_600_000, totpHost: 'node-1' }
  const PASSWORD = 'correct horse battery'

  async function open (): Promise<void> {
    store = new NodeStore(dir.path)
    await store.open()
    audit = new AuditLog({ store, signer, metrics, log, now: () => t })
    await audit.open()
    auth = new Auth({ store, audit, metrics, log, now: () => t }, opts)
    await auth.open()
  }
  async function restart (): Promise<void> {
    auth.stop()
    await store.close()
    await open()
  }

  beforeEach(async () => {
    t = 1_700_000_000_000
    dir = await tempDir('aas-auth-')
    signer = new Signer(await generateKeyPair('Ed25519'))
    metrics = createMetrics({ defaults: false })
    await open()
  })
  afterEach(async () => {
    auth.stop()
    await store.close()
    await dir.remove()
  })

  const secretOf = (e: Enrolment): string => (URI.parse(e.otpauthUri) as TOTP).secret.base32
  const codeAt = (secret: string, ms = t): string => totpCode(secret, totpStep(ms))
  async function refusal (p: Promise<unknown>): Promise<AuthError> {
    try { await p } catch (err) { if (err instanceof AuthError) return err; throw err }
    throw new Error('expected an AuthError')
  }
  const logins = async (result: string): Promise<number> => (await metrics.authLogins.get()).values.find(v => v.labels.result === result)?.value ?? 0
  const actions = async (): Promise<string[]> => (await audit.read()).map(e => e.action)

  it('adds a user and logs in with password and current code: a session with roles and a CSRF token', async () => {
    const e = await auth.addUser({ name: 'alice', roles: ['reviewer'], password: PASSWORD }, { actor: 'cli:test' })
    expect(e.user).to.deep.include({ name: 'alice', roles: ['reviewer'], disabled: false, lockedUntil: null })
    expect(e.otpauthUri).to.match(/^otpauth:\/\/totp\/AAS:node-1%3Aalice\?/)
    const g = await auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: '10.0.0.1' })
    expect(g.token).to.match(/^[A-Za-z0-9_-]{43}$/)
    expect(g.session).to.deep.include({ user: 'alice', roles: ['reviewer'], expiresAt: t + 3_600_000 })
    const s = await auth.session(g.token)
    expect(s?.user).to.equal('alice')
    expect(s?.id).to.not.equal(g.token) // stored by hash
    expect(auth.checkCsrf(s!, s!.csrf)).to.equal(true)
    expect(auth.checkCsrf(s!, (s!.csrf[0] === 'x' ? 'y' : 'x') + s!.csrf.slice(1))).to.equal(false)
    expect(auth.checkCsrf(s!, undefined)).to.equal(false)
    expect(await auth.session('not-a-session')).to.equal(undefined)
    const entries = await audit.read()
    expect(entries.map(x => [x.action, x.subject, x.actor])).to.deep.equal([['user.added', 'alice', 'cli:test'], ['auth.login', 'alice', 'user:alice']])
    expect(entries[1].details).to.deep.include({ result: 'ok', address: '10.0.0.1' })
    expect(JSON.stringify(entries)).to.not.include(secretOf(e))
    expect(await logins('ok')).to.equal(1)
    expect(auth.hasRole('reviewer')).to.equal(true)
    expect(auth.hasRole('approver')).to.equal(false)
  })

  it('accepts a code once per user, also after a restart; the next step\'s code works', async () => {
    const e = await auth.addUser({ name: 'alice', roles: ['reviewer'], password: PASSWORD })
    const code = codeAt(secretOf(e))
    await auth.login({ user: 'alice', password: PASSWORD, code, address: 'a' })
    expect((await refusal(auth.login({ user: 'alice', password: PASSWORD, code, address: 'a' }))).code).to.equal(AuthErrorCode.BAD_CREDENTIALS)
    await restart()
    expect((await refusal(auth.login({ user: 'alice', password: PASSWORD, code, address: 'a' }))).code).to.equal(AuthErrorCode.BAD_CREDENTIALS)
    t += 30_000
    const g = await auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: 'a' })
    expect(g.session.user).to.equal('alice')
  })

  it('two logins at once with one code: exactly one gets a session', async () => {
    const e = await auth.addUser({ name: 'alice', roles: ['reviewer'], password: PASSWORD })
    const code = codeAt(secretOf(e))
    const results = await Promise.allSettled([1, 2, 3].map(async () => await auth.login({ user: 'alice', password: PASSWORD, code, address: 'a' })))
    expect(results.filter(r => r.status === 'fulfilled')).to.have.length(1)
  })

  it('a wrong password, a wrong code and an unknown user are the same refusal', async () => {
    const e = await auth.addUser({ name: 'alice', roles: ['reviewer'], password: PASSWORD })
    const good = codeAt(secretOf(e))
    const wrongCode = String((Number(good) + 1) % 1_000_000).padStart(6, '0')
    const shape = (err: AuthError): unknown => ({ name: err.name, code: err.code, message: err.message, retryAfterS: err.retryAfterS, status: err.status })
    const a = await refusal(auth.login({ user: 'alice', password: 'wrong password!!', code: good, address: 'a' }))
    const b = await refusal(auth.login({ user: 'alice', password: PASSWORD, code: wrongCode, address: 'b' }))
    const c = await refusal(auth.login({ user: 'nobody', password: PASSWORD, code: good, address: 'c' }))
    expect(shape(a)).to.deep.equal({ name: 'AuthError', code: AuthErrorCode.BAD_CREDENTIALS, message: a.message, retryAfterS: undefined, status: 401 })
    expect(shape(b)).to.deep.equal(shape(a))
    expect(shape(c)).to.deep.equal(shape(a))
    expect(await logins('bad-credentials')).to.equal(3)
  })

  it('throttles after 5 failures (Retry-After growing), locks at 10, and the lock survives a restart', async () => {
    const e = await auth.addUser({ name: 'alice', roles: ['reviewer'], password: PASSWORD })
    const wrong = async (address: string): Promise<AuthError> => await refusal(auth.login({ user: 'alice', password: 'not the password', code: codeAt(secretOf(e)), address }))
    // from five addresses, so the per-user count is what throttles
    for (let i = 0; i < 5; i++) expect((await wrong(`10.0.0.${i}`)).code).to.equal(AuthErrorCode.BAD_CREDENTIALS)
    const waits: number[] = []
    for (let n = 5; n < 10; n++) {
      const th = await wrong('10.0.1.1')
      expect(th.code, `after ${n} failures`).to.equal(AuthErrorCode.THROTTLED)
      expect(th.status).to.equal(429)
      waits.push(th.retryAfterS!)
      // even the right password is not looked at while throttled
      expect((await refusal(auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: '10.0.2.1' }))).code).to.equal(AuthErrorCode.THROTTLED)
      t += th.retryAfterS! * 1000
      expect((await wrong(`10.0.3.${n}`)).code).to.equal(AuthErrorCode.BAD_CREDENTIALS)
    }
    expect(waits).to.deep.equal([15, 30, 60, 120, 240])
    const locked = await refusal(auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: '10.0.4.1' }))
    expect(locked.code).to.equal(AuthErrorCode.LOCKED)
    expect(locked.status).to.equal(423)
    expect(locked.retryAfterS).to.equal(1800)
    expect((await auth.listUsers())[0].lockedUntil).to.equal(new Date(t + 1_800_000).toISOString())

    await restart()
    t += 1_799_000
    expect((await refusal(auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: '10.0.4.2' }))).code).to.equal(AuthErrorCode.LOCKED)
    t += 1000
    expect((await auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: '10.0.4.3' })).session.user).to.equal('alice')
    expect(await logins('throttled')).to.equal(10)
    expect(await logins('locked')).to.equal(2)
  })

  it('an admin unlocks a locked user', async () => {
    const e = await auth.addUser({ name: 'alice', roles: ['reviewer'], password: PASSWORD })
    for (let n = 0; n < 10; n++) {
      const err = await refusal(auth.login({ user: 'alice', password: 'not the password', code: '000000', address: `10.0.0.${n}` }))
      if (err.code === AuthErrorCode.THROTTLED) { t += err.retryAfterS! * 1000; n-- }
    }
    expect((await refusal(auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: 'x' }))).code).to.equal(AuthErrorCode.LOCKED)
    await auth.unlockUser('alice', { actor: 'admin-token' })
    expect((await auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: 'x' })).session.user).to.equal('alice')
    expect(await actions()).to.include('user.unlocked')
  })

  it('throttles an address that fails on many names, not other addresses', async () => {
    const e = await auth.addUser({ name: 'alice', roles: ['reviewer'], password: PASSWORD })
    for (let i = 0; i < 5; i++) await refusal(auth.login({ user: `guess${i}`, password: PASSWORD, code: '123456', address: '192.0.2.9' }))
    const th = await refusal(auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: '192.0.2.9' }))
    expect(th.code).to.equal(AuthErrorCode.THROTTLED)
    expect(th.retryAfterS).to.equal(15)
    expect((await auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: '192.0.2.10' })).session.user).to.equal('alice')
  })

  it('audits failed logins without letting a flood grow the log', async () => {
    await auth.addUser({ name: 'alice', roles: ['reviewer'], password: PASSWORD })
    for (let i = 0; i < 30; i++) {
      const err = await refusal(auth.login({ user: 'alice', password: 'not the password', code: '000000', address: '198.51.100.7' }))
      if (err.code === AuthErrorCode.LOCKED) break
    }
    let failed = (await audit.read()).filter(e => e.action === 'auth.login')
    expect(failed).to.have.length(1)
    expect(failed[0].details).to.deep.include({ result: 'bad-credentials', user: 'alice', address: '198.51.100.7' })
    auth.stop() // ends the window: one summary of the rest, written as it is noted
    failed = await waitFor(async () => { const f = (await audit.read()).filter(e => e.action === 'auth.login'); return f.length >= 2 && f }, 'the summary entry')
    expect(failed).to.have.length(2)
    expect(failed[1].details).to.deep.include({ summary: true, address: '198.51.100.7', count: 29 })
  })

  it('refuses a disabled user with the right credentials, and ends their sessions', async () => {
    const e = await auth.addUser({ name: 'alice', roles: ['reviewer'], password: PASSWORD })
    const g = await auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: 'a' })
    await auth.disableUser('alice', { actor: 'admin-token' })
    expect(await auth.session(g.token)).to.equal(undefined)
    t += 30_000
    const err = await refusal(auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: 'a' }))
    expect(err.code).to.equal(AuthErrorCode.DISABLED)
    expect(err.status).to.equal(403)
    // wrong credentials of a disabled user say only that they are wrong
    expect((await refusal(auth.login({ user: 'alice', password: 'not the password', code: codeAt(secretOf(e)), address: 'a' }))).code).to.equal(AuthErrorCode.BAD_CREDENTIALS)
    expect(auth.hasRole('reviewer')).to.equal(false)
    expect(await logins('disabled')).to.equal(1)
    expect(await actions()).to.include('user.disabled')
  })

  it('ends a session when it expires and on logout', async () => {
    const e = await auth.addUser({ name: 'alice', roles: ['reviewer'], password: PASSWORD })
    const g1 = await auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: 'a' })
    t += 30_000
    const g2 = await auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(e)), address: 'a' })
    expect(g2.token).to.not.equal(g1.token)
    expect(await auth.logout(g2.token, 'a')).to.equal(true)
    expect(await auth.session(g2.token)).to.equal(undefined)
    expect(await auth.logout(g2.token, 'a')).to.equal(false)
    t += 3_600_000 - 30_000 - 1
    expect((await auth.session(g1.token))?.user).to.equal('alice')
    t += 1
    expect(await auth.session(g1.token)).to.equal(undefined)
    expect(await actions()).to.include('auth.logout')
  })

  it('reset-totp: the old secret\'s codes stop working, the new ones work, sessions end', async () => {
    const old = await auth.addUser({ name: 'alice', roles: ['reviewer'], password: PASSWORD })
    const g = await auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(old)), address: 'a' })
    const fresh = await auth.resetTotp('alice', { actor: 'admin-token' })
    expect(secretOf(fresh)).to.not.equal(secretOf(old))
    expect(await auth.session(g.token)).to.equal(undefined)
    t += 30_000
    expect((await refusal(auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(old)), address: 'a' }))).code).to.equal(AuthErrorCode.BAD_CREDENTIALS)
    expect((await auth.login({ user: 'alice', password: PASSWORD, code: codeAt(secretOf(fresh)), address: 'a' })).session.user).to.equal('alice')
    expect(await actions()).to.include('user.totp-reset')
  })

  it('refuses bad names, roles, short passwords and a second user of one name', async () => {
    const code = async (p: Promise<unknown>): Promise<string> => (await refusal(p)).code
    expect(await code(auth.addUser({ name: 'Alice', roles: ['reviewer'], password: PASSWORD }))).to.equal(AuthErrorCode.BAD_NAME)
    expect(await code(auth.addUser({ name: 'a', roles: ['reviewer'], password: PASSWORD }))).to.equal(AuthErrorCode.BAD_NAME)
    expect(await code(auth.addUser({ name: 'alice', roles: ['reviewer'], password: 'short pass' }))).to.equal(AuthErrorCode.WEAK_PASSWORD)
    expect(await code(auth.addUser({ name: 'alice', roles: [], password: PASSWORD }))).to.equal(AuthErrorCode.BAD_ROLE)
    await auth.addUser({ name: 'alice', roles: ['reviewer'], password: PASSWORD })
    expect(await code(auth.addUser({ name: 'alice', roles: ['admin'], password: PASSWORD }))).to.equal(AuthErrorCode.USER_EXISTS)
    expect(await code(auth.disableUser('bob'))).to.equal(AuthErrorCode.NO_SUCH_USER)
    expect((await auth.listUsers()).map(u => u.name)).to.deep.equal(['alice'])
  })
})

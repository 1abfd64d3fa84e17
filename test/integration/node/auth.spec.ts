import { expect } from 'chai'
import { request } from 'node:http'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { URI, type TOTP } from 'otpauth'
import { totpCode, totpStep } from '../../../node/auth/index.js'
import { personRequest } from '../../../node/cli/person-client.js'
import { getJson, runCli, startCliNode, tempDir, waitFor, type CliNode } from '../../utils/cli-node.js'

/**
 * People and login on real nodes through the real CLI: `aas user add --password-stdin` on a
 * stopped data dir and on a running node (through its API and the admin token), login over HTTP
 * with a code computed from the printed otpauth URI, the session cookie, CSRF, logout, throttling
 * per address (from distinct loopback addresses), a cookie of one node shown to another, a
 * disabled user, `aas login`, and the audit entries of each.
 */
const PASSWORD = 'correct horse battery staple'

interface HttpAnswer { status: number, headers: Record<string, string | string[] | undefined>, body: any }

/** One HTTP request from a chosen loopback address (the node throttles per address). */
async function http (url: string, init: { method?: string, body?: unknown, headers?: Record<string, string>, from?: string } = {}): Promise<HttpAnswer> {
  const payload = init.body !== undefined ? JSON.stringify(init.body) : undefined
  return await new Promise((resolve, reject) => {
    const req = request(url, {
      method: init.method ?? 'GET',
      localAddress: init.from ?? '127.0.0.1',
      headers: { ...(payload != null ? { 'content-type': 'application/json' } : {}), ...init.headers },
      timeout: 30_000
    }, (res) => {
      let text = ''
      res.on('data', (d) => { text += String(d) })
      res.on('end', () => {
        let body: any
        try { body = JSON.parse(text) } catch { body = text }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body })
      })
    })
    req.on('error', reject)
    req.on('timeout', () => { req.destroy(new Error(`${url}: no answer`)) })
    req.end(payload)
  })
}

interface Enrolled { name: string, roles: string[], otpauthUri: string, secret: string }

async function addUser (data: string, name: string, roles: string, extra: string[] = []): Promise<Enrolled> {
  const r = await runCli(['user', 'add', name, '--role', roles, '--password-stdin', '--data', data, '--json', ...extra], { input: PASSWORD + '\n', timeoutMs: 60_000 })
  expect(r.code, r.stderr).to.equal(0)
  const out = JSON.parse(r.stdout) as Omit<Enrolled, 'secret'>
  return { ...out, secret: (URI.parse(out.otpauthUri) as TOTP).secret.base32 }
}

/** The current code, as an authenticator app would show it now. */
const codeOf = (u: Enrolled): string => totpCode(u.secret, totpStep(Date.now()))

async function login (api: string, u: Enrolled, from?: string, password = PASSWORD): Promise<HttpAnswer> {
  return await http(`${api}/v1/auth/login`, { method: 'POST', body: { user: u.name, password, code: codeOf(u) }, from })
}

const cookieOf = (a: HttpAnswer): string => {
  const line = ([] as string[]).concat(a.headers['set-cookie'] ?? []).find(l => l.startsWith('aas_session='))
  if (line == null) throw new Error('no aas_session cookie')
  return line.split(';')[0]
}

async function auditActions (api: string): Promise<Array<{ action: string, subject: string, actor: string, details: any }>> {
  return (await getJson(`${api}/v1/audit?limit=1000`)).entries
}

describe('people and login on real nodes', function () {
  this.timeout(300_000)
  let dir: Awaited<ReturnType<typeof tempDir>>
  const nodes: CliNode[] = []

  beforeEach(async () => { dir = await tempDir('aas-auth-it-') })
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.stop()
    await dir.remove()
  })

  async function node (data: string): Promise<CliNode> {
    const n = await startCliNode({ dataDir: data })
    nodes.push(n)
    return n
  }

  it('enrols on a stopped data dir and on a running node; logs in; cookie, CSRF, logout; a code is refused again after a restart', async () => {
    const data = join(dir.path, 'n1')
    const alice = await addUser(data, 'alice', 'reviewer')
    expect(alice.roles).to.deep.equal(['reviewer'])
    expect(alice.otpauthUri).to.match(/^otpauth:\/\/totp\/AAS:[^?]+%3Aalice\?/)
    const weak = await runCli(['user', 'add', 'zed', '--role', 'reviewer', '--password-stdin', '--data', data], { input: 'too short\n' })
    expect(weak.code).to.equal(2)
    expect(weak.stderr.trim().split('\n')).to.have.length(1)
    expect(weak.stderr).to.match(/^aas: the password is too short/)

    let n = await node(data)
    expect((await stat(data)).mode & 0o777).to.equal(0o700)
    expect((await stat(join(data, 'api.token'))).mode & 0o777).to.equal(0o600)
    // on a running node the CLI goes through the API with the admin token
    const bob = await addUser(data, 'bob', 'reviewer,admin')
    expect(bob.roles).to.deep.equal(['reviewer', 'admin'])
    const noToken = await http(`${n.api}/v1/users`, { method: 'POST', body: { name: 'mallory', roles: ['admin'], password: PASSWORD } })
    expect(noToken.status).to.equal(401)
    expect(noToken.body.code).to.equal('ERR_ADMIN_TOKEN')
    const list = await runCli(['user', 'list', '--data', data, '--json'])
    expect(list.code, list.stderr).to.equal(0)
    expect(JSON.parse(list.stdout).map((u: any) => u.name).sort()).to.deep.equal(['alice', 'bob'])
    expect(list.stdout).to.not.include(alice.secret)

    const used = codeOf(alice)
    const ok = await http(`${n.api}/v1/auth/login`, { method: 'POST', body: { user: 'alice', password: PASSWORD, code: used } })
    expect(ok.status, JSON.stringify(ok.body)).to.equal(200)
    expect(ok.body).to.include({ user: 'alice' })
    expect(ok.body.roles).to.deep.equal(['reviewer'])
    expect(ok.body.csrf).to.be.a('string')
    const setCookie = ([] as string[]).concat(ok.headers['set-cookie'] ?? []).find(l => l.startsWith('aas_session='))!
    const attrs = setCookie.split(';').map(s => s.trim().toLowerCase())
    expect(attrs).to.include.members(['httponly', 'samesite=strict', 'path=/'])
    expect(attrs.some(a => a.startsWith('expires='))).to.equal(true)
    expect(attrs).to.not.include('secure') // auth.secureCookies is off by default
    const cookie = cookieOf(ok)

    const me = await http(`${n.api}/v1/auth/session`, { headers: { cookie } })
    expect(me.status).to.equal(200)
    expect(me.body).to.include({ user: 'alice', csrf: ok.body.csrf })
    // alice is no admin: user management by her session is forbidden
    const forbidden = await http(`${n.api}/v1/users`, { headers: { cookie } })
    expect(forbidden.status).to.equal(403)
    expect(forbidden.body.code).to.equal('ERR_FORBIDDEN')
    const noCsrf = await http(`${n.api}/v1/auth/logout`, { method: 'POST', headers: { cookie } })
    expect(noCsrf.status).to.equal(403)
    expect(noCsrf.body.code).to.equal('ERR_CSRF')
    const csrf = String(ok.body.csrf)
    const wrongCsrf = await http(`${n.api}/v1/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': (csrf[0] === 'x' ? 'y' : 'x') + csrf.slice(1) } })
    expect(wrongCsrf.body.code).to.equal('ERR_CSRF')
    const out = await http(`${n.api}/v1/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': ok.body.csrf } })
    expect(out.status).to.equal(200)
    const after = await http(`${n.api}/v1/auth/session`, { headers: { cookie } })
    expect(after.status).to.equal(401)
    expect(after.body.code).to.equal('ERR_NO_SESSION')

    // bob is an admin: his session manages users, with the CSRF token
    const b = await login(n.api, bob)
    expect(b.status).to.equal(200)
    const users = await http(`${n.api}/v1/users`, { headers: { cookie: cookieOf(b) } })
    expect(users.status).to.equal(200)
    expect(users.body.users).to.have.length(2)

    // refusals are audited as they are noted, after the answer: wait for the last one to land
    const entries = await waitFor(async () => { const all = await auditActions(n.api); return all.some(e => e.action === 'auth.refused' && e.details.reason === 'ERR_ADMIN_TOKEN') && all.some(e => e.action === 'auth.refused' && e.actor === 'user:alice') && all }, 'the refusals\' audit entries')
    const find = (action: string, subject: string): any => entries.find(e => e.action === action && e.subject === subject)
    expect(find('user.added', 'alice')?.actor).to.match(/^cli:/)
    expect(find('user.added', 'bob')?.actor).to.equal('admin-token')
    expect(find('auth.login', 'alice')?.details).to.include({ result: 'ok', address: '127.0.0.1' })
    expect(find('auth.logout', 'alice')?.actor).to.equal('user:alice')
    expect(entries.some(e => e.action === 'auth.refused' && e.actor === 'user:alice' && e.details.reason === 'ERR_FORBIDDEN' && e.details.route === 'GET /v1/users')).to.equal(true)
    expect(entries.some(e => e.action === 'auth.refused' && e.subject === 'POST /v1/users' && e.details.reason === 'ERR_ADMIN_TOKEN')).to.equal(true)

    // the code alice used stays used across a restart (were the restart slow enough for its step to
    // pass T−1, the code would be refused as too old: refused either way)
    await n.stop()
    nodes.length = 0
    n = await node(data)
    const again = await http(`${n.api}/v1/auth/login`, { method: 'POST', body: { user: 'alice', password: PASSWORD, code: used } })
    expect(again.status).to.equal(401)
    expect(again.body.code).to.equal('ERR_BAD_CREDENTIALS')
  })

  it('throttles per address with 429 and Retry-After; a wrong password and a wrong code answer alike', async () => {
    const data = join(dir.path, 'n2')
    const carol = await addUser(data, 'carol', 'reviewer')
    const n = await node(data)
    const wrongPassword = await login(n.api, carol, '127.0.0.5', 'not the password at all')
    const good = codeOf(carol)
    const wrongCode = await http(`${n.api}/v1/auth/login`, { method: 'POST', from: '127.0.0.5', body: { user: 'carol', password: PASSWORD, code: String((Number(good) + 1) % 1_000_000).padStart(6, '0') } })
    expect(wrongPassword.status).to.equal(401)
    expect(wrongCode.status).to.equal(401)
    expect(wrongCode.body).to.deep.equal(wrongPassword.body)
    for (let i = 0; i < 3; i++) {
      const r = await http(`${n.api}/v1/auth/login`, { method: 'POST', from: '127.0.0.5', body: { user: `guess${i}`, password: PASSWORD, code: '123456' } })
      expect(r.status).to.equal(401)
    }
    // five failures from 127.0.0.5 (two of them carol's): her right credentials are not looked at, from there or elsewhere
    const throttled = await login(n.api, carol, '127.0.0.5')
    expect(throttled.status).to.equal(429)
    expect(throttled.body.code).to.equal('ERR_THROTTLED')
    expect(Number(throttled.headers['retry-after'])).to.be.within(1, 15)
    const dave = await addUser(data, 'dave', 'reviewer')
    expect((await login(n.api, dave, '127.0.0.5')).status).to.equal(429)
    expect((await login(n.api, dave, '127.0.0.6')).status).to.equal(200)

    const metrics = await (await fetch(`${n.api}/metrics`)).text()
    expect(metrics).to.match(/aas_auth_logins_total\{result="bad-credentials"\} 5/)
    expect(metrics).to.match(/aas_auth_logins_total\{result="throttled"\} 2/)
    expect(metrics).to.match(/aas_auth_logins_total\{result="ok"\} 1/)
    const failed = await waitFor(async () => { const f = (await auditActions(n.api)).filter(e => e.action === 'auth.login' && e.details.result !== 'ok'); return f.length > 0 && f }, 'the failed login\'s audit entry')
    expect(failed[0]?.details).to.include({ result: 'bad-credentials', user: 'carol', address: '127.0.0.5' })
  })

  it('refuses a session cookie of one node at another, a disabled user, and ends a disabled user\'s sessions', async () => {
    const a = join(dir.path, 'a')
    const b = join(dir.path, 'b')
    const erin = await addUser(a, 'erin', 'reviewer')
    await addUser(b, 'erin', 'reviewer')
    const frank = await addUser(a, 'frank', 'reviewer')
    const [na, nb] = [await node(a), await node(b)]
    const la = await login(na.api, erin)
    expect(la.status).to.equal(200)
    const cookie = cookieOf(la)
    expect((await http(`${na.api}/v1/auth/session`, { headers: { cookie } })).status).to.equal(200)
    const elsewhere = await http(`${nb.api}/v1/auth/session`, { headers: { cookie } })
    expect(elsewhere.status).to.equal(401)
    expect(elsewhere.body.code).to.equal('ERR_NO_SESSION')
    await waitFor(async () => (await auditActions(nb.api)).some(e => e.action === 'auth.refused' && e.details.reason === 'ERR_NO_SESSION' && e.details.route === 'GET /v1/auth/session'), 'auth.refused at the other node')

    const dis = await runCli(['user', 'disable', 'erin', '--data', a, '--json'])
    expect(dis.code, dis.stderr).to.equal(0)
    expect(JSON.parse(dis.stdout)).to.include({ name: 'erin', disabled: true })
    expect((await http(`${na.api}/v1/auth/session`, { headers: { cookie } })).status).to.equal(401)
    await runCli(['user', 'disable', 'frank', '--data', a])
    const refused = await login(na.api, frank)
    expect(refused.status).to.equal(403)
    expect(refused.body.code).to.equal('ERR_DISABLED')
    const entries = await auditActions(na.api)
    expect(entries.filter(e => e.action === 'user.disabled').map(e => e.subject)).to.deep.equal(['erin', 'frank'])
  })

  it('aas login keeps the session (0600) for personRequest; aas logout ends it', async () => {
    const data = join(dir.path, 'n4')
    const gina = await addUser(data, 'gina', 'reviewer')
    const n = await node(data)
    const home = join(dir.path, 'config')
    const env = { XDG_CONFIG_HOME: home }
    const r = await runCli(['login', '--api', n.api, '--user', 'gina', '--password-stdin', '--json'], { input: `${PASSWORD}\n${codeOf(gina)}\n`, env, timeoutMs: 60_000 })
    expect(r.code, r.stderr).to.equal(0)
    expect(JSON.parse(r.stdout)).to.include({ user: 'gina', api: n.api })
    const file = join(home, 'aas', 'session.json')
    expect((await stat(file)).mode & 0o777).to.equal(0o600)
    expect(Object.keys(JSON.parse(await readFile(file, 'utf8')))).to.deep.equal([n.api])
    const me = await personRequest<{ user: string }>(n.api, '/v1/auth/session', { env })
    expect(me.user).to.equal('gina')
    const out = await runCli(['logout', '--api', n.api, '--json'], { env })
    expect(out.code, out.stderr).to.equal(0)
    expect(JSON.parse(out.stdout)).to.deep.equal({ api: n.api, ended: true })
    const gone = await personRequest(n.api, '/v1/auth/session', { env }).then(() => undefined, (err) => err)
    expect(gone?.name).to.equal('ApiError')
    expect(gone?.status).to.equal(401)
    const bad = await runCli(['login', '--api', n.api, '--user', 'gina', '--password-stdin'], { input: 'wrong password\n123456\n', env })
    expect(bad.code).to.equal(1)
    expect(bad.stderr).to.match(/^aas: wrong user name, password or code\n$/)
  })
})

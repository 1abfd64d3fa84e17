import { request } from 'node:http'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { runCli, startCliNode, tempDir, waitFor, type CliNode } from '../../utils/cli-node.js'

/**
 * Who may call a node's HTTP API (issue 9, "Abuse limits"), against real node processes: the
 * `Host` header must be an address, localhost or an allowed name (a DNS-rebinding page's name
 * is refused with 421), and a node bound beyond loopback (0.0.0.0, still reached here through
 * 127.0.0.1) answers only requests with its `api.token` — except /healthz and the routes that
 * authenticate people by session. The CLI sends the token from `--data DIR` or
 * `AAS_API_TOKEN_FILE`; refusals are audited.
 */
interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: any, text: string }

/** An HTTP request with any `Host` header (fetch would not let a test set it). */
async function call (url: string, init: { method?: string, host?: string, token?: string, body?: unknown } = {}): Promise<Answer> {
  const u = new URL(url)
  const payload = init.body !== undefined ? JSON.stringify(init.body) : undefined
  return await new Promise((resolve, reject) => {
    const req = request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      method: init.method ?? 'GET',
      headers: {
        host: init.host ?? u.host,
        ...(init.token != null ? { authorization: `Bearer ${init.token}` } : {}),
        ...(payload != null ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {})
      },
      timeout: 10_000
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => { text += d })
      res.on('end', () => {
        let body: any
        try { body = JSON.parse(text) } catch { body = undefined }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text })
      })
    })
    req.on('error', reject)
    req.end(payload)
  })
}

describe('node API: Host check and the token beyond loopback', function () {
  this.timeout(120_000)
  const nodes: CliNode[] = []
  let tmp: Awaited<ReturnType<typeof tempDir>>
  before(async function () { tmp = await tempDir('aas-api-access-') })
  after(async function () {
    await Promise.all(nodes.map(async n => await n.stop()))
    await tmp?.remove()
  })

  it('on loopback: a foreign Host is refused (421, one JSON line); addresses and localhost work without a token', async function () {
    const n = await startCliNode()
    nodes.push(n)
    const port = new URL(n.api).port

    for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.evil.example']) {
      const r = await call(`${n.api}/v1/node`, { host })
      expect(r.status, `Host ${host}`).to.equal(421)
      expect(r.body.code).to.equal('ERR_HOST_NOT_ALLOWED')
      expect(r.text.trim().split('\n')).to.have.length(1)
      expect(r.body.message).to.match(/does not answer to the name .*apiAllowedHosts/)
    }
    // a route that needs a person is refused by the Host check first
    expect((await call(`${n.api}/review`, { host: 'evil.example' })).status).to.equal(421)

    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`]) {
      const r = await call(`${n.api}/v1/node`, { host })
      expect(r.status, `Host ${host}: ${r.text}`).to.equal(200)
      expect(r.body.peerId).to.equal(n.peerId)
    }
    const status = await runCli(['node', 'status', '--api', n.api, '--json'])
    expect(status.code, status.stderr).to.equal(0)
  })

  it('a name in apiAllowedHosts is answered', async function () {
    const config = join(tmp.path, 'config.json')
    await writeFile(config, JSON.stringify({ apiAllowedHosts: ['aas.internal.example'] }))
    const n = await startCliNode({ args: ['--config', config] })
    nodes.push(n)
    expect((await call(`${n.api}/v1/node`, { host: 'aas.internal.example:443' })).status).to.equal(200)
    expect((await call(`${n.api}/v1/node`, { host: 'other.internal.example' })).status).to.equal(421)
  })

  it('bound to 0.0.0.0: 401 without the token, every route but /healthz and the person flows; the CLI sends it', async function () {
    const n = await startCliNode({ args: ['--api', '0.0.0.0:0'] })
    nodes.push(n)
    const port = new URL(n.api).port
    const api = `http://127.0.0.1:${port}`
    const token = (await readFile(join(n.dataDir, 'api.token'), 'utf8')).trim()

    for (const [method, path] of [['GET', '/v1/node'], ['GET', '/metrics'], ['GET', '/v1/tasks'], ['POST', '/v1/tasks'], ['GET', '/v1/audit'], ['GET', '/no/such/route']]) {
      const r = await call(`${api}${path}`, { method, body: method === 'POST' ? {} : undefined })
      expect(r.status, `${method} ${path}`).to.equal(401)
      expect(r.body.code, `${method} ${path}`).to.equal('ERR_API_TOKEN')
      expect(r.headers['www-authenticate']).to.equal('Bearer')
      const wrong = await call(`${api}${path}`, { method, token: 'x'.repeat(token.length) })
      expect(wrong.body?.code, `${method} ${path} with a wrong token`).to.equal('ERR_API_TOKEN')
    }
    const info = await call(`${api}/v1/node`, { token })
    expect(info.status).to.equal(200)
    expect(info.body.peerId).to.equal(n.peerId)
    const metrics = await call(`${api}/metrics`, { token })
    expect(metrics.status).to.equal(200)
    expect(metrics.text).to.include('aas_stream_refusals_total')

    // what needs no token: the health check, the login flows and the reviewer's pages (sessions)
    expect((await call(`${api}/healthz`)).status).to.equal(200)
    const login = await call(`${api}/v1/auth/login`, { method: 'POST', body: { user: 'nobody', password: 'wrong password', code: '000000' } })
    expect(login.status).to.equal(401)
    expect(login.body.code).to.equal('ERR_BAD_CREDENTIALS')
    const page = await call(`${api}/review`)
    expect(page.status).to.equal(200)
    expect(page.text).to.include('action="/review/login"')
    expect((await call(`${api}/v1/review/queue`)).body.code).to.equal('ERR_NO_SESSION')
    // the Host check holds here too, token or not
    expect((await call(`${api}/v1/node`, { host: 'evil.example', token })).status).to.equal(421)

    // the CLI: --data DIR with --api, or AAS_API_TOKEN_FILE; a bare --api sends no token
    const withData = await runCli(['node', 'status', '--api', api, '--data', n.dataDir, '--json'])
    expect(withData.code, withData.stderr).to.equal(0)
    expect(JSON.parse(withData.stdout).peerId).to.equal(n.peerId)
    const viaRuntime = await runCli(['node', 'status', '--data', n.dataDir, '--json'])
    expect(viaRuntime.code, viaRuntime.stderr).to.equal(0)
    const withFile = await runCli(['node', 'status', '--api', api, '--json'], { env: { AAS_API_TOKEN_FILE: join(n.dataDir, 'api.token') } })
    expect(withFile.code, withFile.stderr).to.equal(0)
    const bare = await runCli(['node', 'status', '--api', api])
    expect(bare.code).to.not.equal(0)
    expect(bare.stderr.trim().split('\n')).to.have.length(1)
    expect(bare.stderr).to.match(/^aas: .*Authorization: Bearer.*api\.token/)
    const missing = await runCli(['node', 'status', '--api', api], { env: { AAS_API_TOKEN_FILE: join(n.dataDir, 'no-such-file') } })
    expect(missing.code).to.equal(2)
    expect(missing.stderr).to.match(/^aas: AAS_API_TOKEN_FILE: cannot read/)

    // the refusals are audited (flood-safely: the first of a minute per address at once)
    const entries = await waitFor(async () => {
      const page = await call(`${api}/v1/audit?from=1&limit=1000`, { token })
      const list: any[] = page.body?.entries ?? []
      return list.some(e => e.action === 'auth.refused' && e.details?.reason === 'ERR_API_TOKEN') && list
    }, 'the auth.refused entry of a request without the token')
    expect(entries.find(e => e.action === 'auth.refused' && e.details?.reason === 'ERR_API_TOKEN').subject).to.match(/^(GET|POST) /)
  })
})

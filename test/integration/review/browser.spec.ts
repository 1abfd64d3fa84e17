import { request } from 'node:http'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'chai'
import { URI, type TOTP } from 'otpauth'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { rmTree } from '../../../skills/bundle/index.js'
import { artifactDir, isPng, launchChromium } from '../../utils/browser.js'
import { REPO, getJson, runCli, startCliNode, tempDir, waitFor, type CliNode } from '../../utils/cli-node.js'

/**
 * Issue 10's acceptance, in a real browser: Debian's Chromium driven by playwright-core, on a
 * mesh of three `aas node start` processes. O originates (no slots), A executes at tier 0, B at
 * tier 1. A task of a skill that always fails is tried on A, climbs to B's tier, fails there
 * too and waits in O's review queue. A reviewer enrolled with `aas user add` logs in to O's
 * page with a TOTP code computed from the enrolment URI, claims the task and resolves it with
 * an annotation; the publisher's `aas task submit --wait`, waiting all along, prints the answer,
 * and O's audit trail names the reviewer at each step. Then the refusals: no reviewer role, no
 * session, a task another reviewer holds, a form without its CSRF token, wrong credentials and
 * too many of them.
 */
const FLAKY = join(REPO, 'test', 'fixtures', 'skills', 'flaky')
const PASSWORD = 'correct horse battery staple'

interface Enrolled { name: string, totp: TOTP }
interface AuditEntry { action: string, subject: string, actor?: string, details?: any }
interface Answer { status: number, headers: Record<string, string | string[] | undefined>, body: string }

/** One form post from a chosen loopback address (the node throttles logins per address). */
async function postForm (url: string, fields: Record<string, string>, from = '127.0.0.1'): Promise<Answer> {
  const payload = new URLSearchParams(fields).toString()
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', localAddress: from, headers: { 'content-type': 'application/x-www-form-urlencoded' }, timeout: 30_000 }, (res) => {
      let body = ''
      res.on('data', (d) => { body += String(d) })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body }) })
    })
    req.on('error', reject)
    req.on('timeout', () => { req.destroy(new Error(`${url}: no answer`)) })
    req.end(payload)
  })
}

/** Clicks a form's button and returns the status of the POST it sent (before any redirect). */
async function submit (page: Page, button: Locator): Promise<number> {
  const answered = page.waitForResponse(r => r.request().method() === 'POST' && r.frame() === page.mainFrame())
  await button.click()
  return (await answered).status()
}

describe('the reviewer page in Chromium, on a 3-node mesh with tiers', function () {
  this.timeout(300_000)
  let tmp: { path: string, remove: () => Promise<void> }
  let o: CliNode
  let a: CliNode
  let b: CliNode
  let browser: Browser
  const nodes: CliNode[] = []
  const contexts: BrowserContext[] = []

  const enrol = async (name: string, role: string): Promise<Enrolled> => {
    // O is running: the CLI goes through its API with the admin token from O's data dir
    const r = await runCli(['user', 'add', name, '--role', role, '--password-stdin', '--data', o.dataDir, '--json'], { input: PASSWORD + '\n', timeoutMs: 60_000 })
    expect(r.code, r.stderr).to.equal(0)
    return { name, totp: URI.parse(JSON.parse(r.stdout).otpauthUri) as TOTP }
  }

  const audit = async (): Promise<AuditEntry[]> => {
    const r = await runCli(['audit', 'tail', '-n', '500', '--data', o.dataDir, '--json'])
    expect(r.code, r.stderr).to.equal(0)
    return r.stdout.trim().split('\n').filter(l => l !== '').map(l => JSON.parse(l))
  }

  const task = async (id: string): Promise<any> => await getJson(`${o.api}/v1/tasks/${id}`)

  /** Waits until task `id` waits for review at tier 1, after an attempt on A at tier 0 and one on B at tier 1. */
  const inReview = async (id: string): Promise<any> => {
    let last: any
    await waitFor(async () => {
      last = await task(id)
      if (['succeeded', 'failed', 'cancelled', 'resolved'].includes(last.state)) throw new Error(`task ${id} ended ${String(last.state)}: ${String(last.error)}`)
      return last.state === 'needs-review'
    }, `task ${id} to reach O's review queue (last: ${JSON.stringify({ state: last?.state, tier: last?.tier, attempts: last?.attemptsLog })})`, 120_000, 250)
    return last
  }

  /** A browser of its own (no cookies shared with other tests' browsers). */
  const browse = async (): Promise<Page> => {
    const ctx = await browser.newContext()
    contexts.push(ctx)
    return await ctx.newPage()
  }

  const login = async (page: Page, u: Enrolled): Promise<void> => {
    await page.goto(`${o.api}/review`)
    await page.fill('input[name=user]', u.name)
    await page.fill('input[name=password]', PASSWORD)
    await page.fill('input[name=code]', u.totp.generate())
    expect(await submit(page, page.getByRole('button', { name: 'Log in' }))).to.equal(303)
  }

  const submitFailing = async (text: string): Promise<string> => {
    const res = await fetch(`${o.api}/v1/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ skill: 'flaky-count', input: { text, fail: true }, attempts: 1 }), signal: AbortSignal.timeout(10_000) })
    const body = await res.json() as { id?: string }
    expect(res.status, JSON.stringify(body)).to.equal(201)
    return body.id!
  }

  before(async function () {
    this.timeout(240_000)
    tmp = await tempDir('aas-review-browser-')
    const keyFile = join(tmp.path, 'author.json')
    const k = await runCli(['keys', 'new', '--out', keyFile, '--json'])
    expect(k.code, k.stderr).to.equal(0)
    const author = JSON.parse(k.stdout).publicKey as string
    // a bid window of a second: both executors' bids are in when O picks, so A (the skill cached) wins tier 0
    const configs = { o: { tasks: { leaseS: 3, bidWindowMs: 1000 } }, a: { tasks: { tier: 0, leaseS: 3 } }, b: { tasks: { tier: 1, leaseS: 3 } } }
    for (const [name, cfg] of Object.entries(configs)) await writeFile(join(tmp.path, `${name}.json`), JSON.stringify(cfg))
    const start = async (name: 'o' | 'a' | 'b', slots: number, bootstrap: string[]): Promise<CliNode> => {
      const n = await startCliNode({ dataDir: join(tmp.path, name), bootstrap, args: ['--config', join(tmp.path, `${name}.json`), '--slots', String(slots), '--trust-author', author], timeoutMs: 30_000 })
      nodes.push(n)
      return n
    }
    o = await start('o', 0, [])
    ;[a, b] = await Promise.all([start('a', 1, [o.addresses[0]]), start('b', 1, [o.addresses[0]])])
    // a full mesh, and O knows each executor's tier from its hello (a failed task climbs only to an announced tier)
    await waitFor(async () => {
      const known = (await getJson(`${o.api}/v1/mesh`)).peers as Array<{ peerId: string, tier?: number }>
      const counts = await Promise.all([a, b].map(async n => (await getJson(`${n.api}/v1/node`)).peers.length as number))
      if (known.find(p => p.peerId === a.peerId)?.tier === 0 && known.find(p => p.peerId === b.peerId)?.tier === 1 && counts.every(c => c >= 2)) return true
      await Promise.all([o, a, b].map(async n => await getJson(`${n.api}/v1/hello`, { method: 'POST' })))
      return false
    }, 'a full mesh where O knows A at tier 0 and B at tier 1', 30_000, 500)

    const pub = await runCli(['skill', 'publish', FLAKY, '--key', keyFile, '--api', o.api, '--json'], { timeoutMs: 90_000 })
    expect(pub.code, pub.stderr).to.equal(0)
    for (const n of [a, b]) await waitFor(async () => (await getJson(`${n.api}/v1/skills/flaky-count`)).name === 'flaky-count', `flaky-count in the index of ${n === a ? 'A' : 'B'}`, 15_000, 200)
    // A holds the bundle, B does not: at tier 0, where both may run it, A's bid is the better one
    const fetched = await runCli(['skill', 'fetch', 'flaky-count', '--api', a.api, '--json'], { timeoutMs: 60_000 })
    expect(fetched.code, fetched.stderr).to.equal(0)

    browser = await launchChromium()
  })

  afterEach(async () => {
    for (const ctx of contexts.splice(0)) await ctx.close()
  })

  after(async function () {
    this.timeout(60_000)
    await browser?.close()
    await Promise.all(nodes.map(async n => await n.stop().catch(() => {})))
    if (tmp != null) await rmTree(tmp.path)
  })

  it('a failing task climbs a tier, waits for review; a reviewer logs in with TOTP, claims and resolves it; the publisher gets the answer; the audit names the reviewer', async function () {
    const ada = await enrol('ada', 'reviewer')
    const shots = await artifactDir('review')
    const before = new Set((await getJson<any[]>(`${o.api}/v1/tasks?limit=10000`)).map(t => t.id))
    // the publisher waits in the background: it must not return before a person has answered
    let publisherDone = false
    const publisher = runCli(['task', 'submit', '--skill', 'flaky-count', '--input', JSON.stringify({ text: 'a b c', fail: true }), '--attempts', '1', '--api', o.api, '--wait', '--json'], { timeoutMs: 240_000 })
      .finally(() => { publisherDone = true })

    const id = await waitFor(async () => (await getJson<any[]>(`${o.api}/v1/tasks?limit=10000`)).map(t => t.id as string).find(x => !before.has(x)), 'the submitted task at O', 30_000, 200)
    const waiting = await inReview(id)
    expect(waiting.tier, 'the tier it waits at').to.equal(1)
    expect(waiting.review.cause).to.equal('attempts-spent')
    expect(waiting.attemptsLog.map((x: any) => x.executor), 'attempts: on A at tier 0, then on B at tier 1').to.deep.equal([a.peerId, b.peerId])
    expect(waiting.history.some((h: any) => h.state === 'offered' && /^tier 1:/.test(String(h.detail))), 'the offer at tier 1 in its history').to.equal(true)
    expect(publisherDone, 'aas task submit --wait returned before the review').to.equal(false)

    const page = await browse()
    const front = await page.goto(`${o.api}/review`)
    expect(front?.status()).to.equal(200)
    expect(await page.locator('input[name=code]').count(), 'the login form asks for the TOTP code').to.equal(1)
    const headers = front!.headers()
    expect(headers['content-security-policy']).to.include("default-src 'none'").and.include("frame-ancestors 'none'").and.include("form-action 'self'")
    expect(headers).to.include({ 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer', 'cache-control': 'no-store' })

    await login(page, ada)
    const row = page.locator(`#queue tr[data-task="${id}"]`)
    await row.waitFor()
    expect(await row.textContent()).to.include('flaky-count@1.0.0').and.include('attempts-spent').and.include('free')
    const cookie = (await page.context().cookies()).find(c => c.name === 'aas_session')
    expect(cookie, 'the session cookie').to.not.equal(undefined)
    expect(cookie).to.include({ httpOnly: true, sameSite: 'Strict' })
    await page.screenshot({ path: join(shots, 'queue.png'), fullPage: true })

    await row.locator(`a[title="${id}"]`).click()
    await page.locator('#input').waitFor()
    expect(await page.locator('#facts').textContent()).to.include('flaky-count@1.0.0').and.include('counts the words')
    expect(await page.locator('#tier').textContent()).to.equal('1')
    expect(await page.locator('#why').textContent()).to.include('attempts-spent')
    expect(JSON.parse(await page.locator('#input').textContent() ?? '')).to.deep.equal({ text: 'a b c', fail: true })
    const attempts = await page.locator('#attempts tbody tr').allTextContents()
    expect(attempts).to.have.length(2)
    expect(attempts[0]).to.include(a.peerId)
    expect(attempts[1]).to.include(b.peerId)
    expect(JSON.parse(await page.locator('#schema').textContent() ?? '').required).to.deep.equal(['words'])

    expect(await submit(page, page.getByRole('button', { name: 'Claim' }))).to.equal(303)
    await page.getByText('You claimed this task').waitFor()
    expect(await page.locator('textarea[name=output]').inputValue(), 'the output is prefilled').to.equal('{}')
    await page.fill('textarea[name=output]', '{"words": 3}')
    await page.fill('textarea[name=annotation]', 'three words: the skill cannot count when told to fail')
    await page.check('input[name=reuse]')
    await page.screenshot({ path: join(shots, 'task.png'), fullPage: true })
    expect(await submit(page, page.getByRole('button', { name: 'Resolve' }))).to.equal(303)
    await page.getByText('Resolved: the answer went back to the submitter.').waitFor()
    expect(await page.locator(`#queue tr[data-task="${id}"]`).count(), 'the task left the queue').to.equal(0)
    await page.screenshot({ path: join(shots, 'resolved.png'), fullPage: true })

    const r = await publisher
    expect(r.code, r.stderr).to.equal(0)
    const out = JSON.parse(r.stdout)
    expect(out).to.include({ id, state: 'resolved', resolvedBy: 'ada', annotation: 'three words: the skill cannot count when told to fail' })
    expect(out.output).to.deep.equal({ words: 3 })
    expect((await task(id)).review.reuse).to.equal(true)

    for (const name of ['queue.png', 'task.png', 'resolved.png']) {
      expect((await stat(join(shots, name))).size, name).to.be.greaterThan(0)
      expect(await isPng(join(shots, name)), `${name} is a PNG`).to.equal(true)
    }

    const entries = await audit()
    const find = (action: string, match: (e: AuditEntry) => boolean = e => e.subject === id): AuditEntry | undefined => entries.find(e => e.action === action && match(e))
    expect(find('task.escalated')?.details, 'task.escalated').to.include({ cause: 'attempts-spent', tier: 1 })
    expect(find('auth.login', e => e.subject === 'ada')?.details, 'auth.login').to.include({ result: 'ok' })
    for (const action of ['review.viewed', 'review.claimed', 'review.resolved']) expect(find(action)?.actor, action).to.equal('user:ada')
    expect(find('review.resolved')?.details).to.include({ reuse: true, annotated: true })
    expect(find('task.finished')?.details, 'task.finished').to.include({ state: 'resolved', resolvedBy: 'user:ada' })
    const order = ['task.escalated', 'review.viewed', 'review.claimed', 'review.resolved', 'task.finished'].map(action => entries.indexOf(find(action)!))
    expect(order, 'the audit entries in the order of the events').to.deep.equal([...order].sort((x, y) => x - y))
  })

  it('refuses a person without the reviewer role, a logged-out browser, a claim of a task another holds and a form without its CSRF token, and audits each', async function () {
    const [carl, cleo, ben] = await Promise.all([enrol('carl', 'approver'), enrol('cleo', 'reviewer'), enrol('ben', 'reviewer')])
    const id = await submitFailing('held by cleo')
    await inReview(id)

    // no session: the task page is the login form (401), a form post is refused
    const stranger = await browse()
    const locked = await stranger.goto(`${o.api}/review/tasks/${id}`)
    expect(locked?.status()).to.equal(401)
    expect(await stranger.locator('input[name=code]').count(), 'the login form').to.equal(1)
    const blind = await stranger.request.post(`${o.api}/review/tasks/${id}/claim`, { form: { _csrf: 'x' }, maxRedirects: 0 })
    expect(blind.status()).to.equal(401)

    // logged in without the reviewer role: refused with why
    const approver = await browse()
    await login(approver, carl)
    await approver.getByText('this needs the reviewer role').waitFor()
    const refusedPage = await approver.goto(`${o.api}/review/tasks/${id}`)
    expect(refusedPage?.status()).to.equal(403)
    expect(await approver.locator('#input').count(), 'no task shown to a non-reviewer').to.equal(0)

    // cleo holds the task (through the JSON API, as the CLI would)
    const cleoLogin = await fetch(`${o.api}/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'cleo', password: PASSWORD, code: cleo.totp.generate() }), signal: AbortSignal.timeout(30_000) })
    expect(cleoLogin.status).to.equal(200)
    const cleoCookie = cleoLogin.headers.getSetCookie().find(l => l.startsWith('aas_session='))!.split(';')[0]
    const claimed = await fetch(`${o.api}/v1/review/tasks/${id}/claim`, { method: 'POST', headers: { cookie: cleoCookie, 'x-csrf-token': (await cleoLogin.json() as { csrf: string }).csrf }, signal: AbortSignal.timeout(10_000) })
    expect(claimed.status).to.equal(200)

    // ben sees it held, and his claim is refused (409) on the page
    const second = await browse()
    await login(second, ben)
    await second.goto(`${o.api}/review/tasks/${id}`)
    await second.getByText('Held by cleo until').waitFor()
    expect(await submit(second, second.getByRole('button', { name: 'Claim' }))).to.equal(409)
    await second.locator('.note.err', { hasText: 'held by cleo' }).waitFor()
    expect(await submit(second, second.getByRole('button', { name: 'Resolve' }))).to.equal(409)

    // a form post without the session's CSRF token is refused, and changes nothing
    const forged = await second.request.post(`${o.api}/review/tasks/${id}/reject`, { form: { reason: 'forged' }, maxRedirects: 0 })
    expect(forged.status()).to.equal(403)
    expect(await forged.text()).to.include('CSRF')
    const still = await task(id)
    expect(still.state).to.equal('needs-review')
    expect(still.review.holder).to.equal('user:cleo')

    // logging out ends the session: the same browser is back at the login form
    expect(await submit(second, second.getByRole('button', { name: 'Log out' }))).to.equal(303)
    await second.locator('input[name=code]').waitFor()
    expect((await second.goto(`${o.api}/review/tasks/${id}`))?.status()).to.equal(401)

    await waitFor(async () => {
      const entries = await audit()
      const refused = (actor: string, reason: string, route: string): boolean => entries.some(e => e.action === 'auth.refused' && e.actor === actor && e.details?.reason === reason && e.details?.route === route)
      return refused('user:carl', 'ERR_FORBIDDEN', 'GET /review') &&
        refused('127.0.0.1', 'ERR_NO_SESSION', 'GET /review/tasks/:id') &&
        refused('user:ben', 'ERR_CSRF', 'POST /review/tasks/:id/reject') &&
        entries.some(e => e.action === 'review.refused' && e.subject === id && e.actor === 'user:ben' && e.details?.action === 'claim' && e.details?.code === 'ERR_REVIEW_HELD') &&
        entries.some(e => e.action === 'review.viewed' && e.subject === id && e.actor === 'user:ben') &&
        entries.some(e => e.action === 'auth.logout' && e.subject === 'ben')
    }, 'the refusals of carl (role), a logged-out browser, ben (held, CSRF) and ben\'s view in O\'s audit log', 20_000, 500)
  })

  it('answers wrong credentials with one generic error (401), then throttles the address (429 with Retry-After)', async function () {
    const dora = await enrol('dora', 'reviewer')
    const wrongPassword = await postForm(`${o.api}/review/login`, { user: 'dora', password: 'not the password at all', code: dora.totp.generate() }, '127.0.0.9')
    const wrongCode = await postForm(`${o.api}/review/login`, { user: 'dora', password: PASSWORD, code: String((Number(dora.totp.generate()) + 1) % 1_000_000).padStart(6, '0') }, '127.0.0.9')
    for (const r of [wrongPassword, wrongCode]) {
      expect(r.status).to.equal(401)
      expect(r.body).to.include('wrong user name, password or code')
      expect(r.headers['set-cookie']).to.equal(undefined)
    }
    let last: Answer | undefined
    await waitFor(async () => {
      last = await postForm(`${o.api}/review/login`, { user: 'nobody', password: PASSWORD, code: '123456' }, '127.0.0.9')
      if (last.status !== 401 && last.status !== 429) throw new Error(`HTTP ${last.status}`)
      return last.status === 429
    }, 'the address to be throttled after repeated failures', 60_000, 0)
    expect(Number(last!.headers['retry-after'])).to.be.greaterThan(0)
    expect(last!.headers['content-type']).to.match(/^text\/html/)
    expect(last!.body).to.include('name="code"')
  })
})

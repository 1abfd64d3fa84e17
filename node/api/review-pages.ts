import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import { AuthError, AuthErrorCode, AUTH_HTTP_STATUS, type Auth } from '../auth/index.js'
import { REVIEW_STATUS, ReviewError, ReviewErrorCode, type ReviewQueue } from '../review/index.js'
import { clearSessionCookie, requirePerson, SESSION_COOKIE, setSessionCookie } from './auth-routes.js'
import { EMPTY_DRAFT, loginPage, queuePage, refusalPage, taskPage, type PageViewer, type ResolveDraft, type TaskShown } from './review-html.js'

/**
 * The reviewer's pages (issue 10 "The queue"): HTML rendered on the node, served by the same
 * HTTP server as the API. A login form (name, password, TOTP code), the queue oldest first,
 * and a page per task with its forms — claim, release, resolve, reject. The pages act through
 * the same ReviewQueue and the same guard as the JSON routes (`requirePerson` with the
 * `reviewer` role and the session's CSRF token in the `_csrf` form field), so every view,
 * action and refusal is audited with the person. No script runs in them; the headers forbid
 * scripts, framing, caching and leaking the task's URL to another site.
 */
export interface ReviewPagesComponents {
  review: ReviewQueue
  auth: Auth
  now?: () => number
}

export interface ReviewPagesOptions {
  /** Mark the session cookie Secure (`auth.secureCookies`): the node is reached through TLS. */
  secureCookies: boolean
  /** Login forms one address may post a minute, right or wrong (as `POST /v1/auth/login`). */
  loginPerMinute: number
}

export const defaultReviewPagesOptions: ReviewPagesOptions = { secureCookies: false, loginPerMinute: 30 }

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff'
}

/** What each action did, shown after its redirect (a fixed text: the query names one of these). */
const DONE: Record<string, string> = {
  claimed: 'You claimed this task: it is yours to decide until the hold expires.',
  released: 'You released this task: it is back in the queue for anyone.',
  resolved: 'Resolved: the answer went back to the submitter.',
  rejected: 'Rejected: the task ended failed with your reason.'
}

const html = async (reply: FastifyReply, status: number, body: string): Promise<FastifyReply> =>
  await reply.code(status).type('text/html; charset=utf-8').send(body)

const field = (body: unknown, name: string): string => {
  const v = (body as Record<string, unknown> | undefined)?.[name]
  return typeof v === 'string' ? v : ''
}

export function reviewPages (c: ReviewPagesComponents, options: Partial<ReviewPagesOptions> = {}) {
  const o = { ...defaultReviewPagesOptions, ...options }
  const now = c.now ?? Date.now

  /** The logged-in person and the CSRF token their forms carry. */
  const viewerOf = async (req: FastifyRequest): Promise<PageViewer | undefined> => {
    const s = await c.auth.session(req.cookies?.[SESSION_COOKIE])
    return s != null ? { name: s.user, csrf: s.csrf } : undefined
  }

  /** The guard's refusals as pages: no session → the login form; no role or no CSRF token → why. */
  const sendRefusal = async (reply: FastifyReply, err: AuthError): Promise<FastifyReply> => {
    const status = AUTH_HTTP_STATUS[err.code]
    if (err.code === AuthErrorCode.NO_SESSION) return await html(reply, status, loginPage('Log in first: there is no session, or it has expired.'))
    return await html(reply, status, refusalPage('Refused', err.message, await viewerOf(reply.request)))
  }
  const reviewer = requirePerson({ auth: c.auth }, { role: 'reviewer', send: sendRefusal })
  const person = requirePerson({ auth: c.auth }, { send: sendRefusal })

  const id = (req: FastifyRequest): string => (req.params as { id: string }).id
  const taskUrl = (taskId: string, done?: string): string => `/review/tasks/${encodeURIComponent(taskId)}${done != null ? `?done=${done}` : ''}`

  /** The task page; a refusal of the queue (no such task) as a page with its status. */
  async function showTask (req: FastifyRequest, reply: FastifyReply, status: number, flash: { done?: string, error?: string }, draft?: ResolveDraft): Promise<FastifyReply> {
    const viewer = (await viewerOf(req))!
    let t: TaskShown
    try {
      t = await c.review.show(id(req), viewer.name) as unknown as TaskShown
    } catch (err) {
      if (!(err instanceof ReviewError)) throw err
      return await html(reply, REVIEW_STATUS[err.code as ReviewErrorCode] ?? 400, refusalPage('Not found', err.message, viewer))
    }
    return await html(reply, status, taskPage(t, viewer, now(), flash, draft))
  }

  /** Runs one decision; a ReviewError shows the task page again with the reason and its status. */
  async function act (req: FastifyRequest, reply: FastifyReply, fn: (who: string) => Promise<unknown>, then: string, draft?: ResolveDraft): Promise<FastifyReply> {
    try {
      await fn(req.person!.name)
    } catch (err) {
      if (!(err instanceof ReviewError)) throw err
      return await showTask(req, reply, REVIEW_STATUS[err.code as ReviewErrorCode] ?? 400, { error: err.message }, draft)
    }
    return await reply.redirect(then, 303)
  }

  return (app: FastifyInstance): void => {
    void app.register(async (scope) => {
      scope.addHook('onSend', async (_req, reply, payload) => {
        void reply.headers(SECURITY_HEADERS)
        return payload
      })
      // per address, before any password is hashed, as for the JSON login
      await scope.register(rateLimit, {
        global: false,
        errorResponseBuilder: (req, ctx) => {
          c.auth.noteRateLimited(req.ip)
          return new AuthError(`too many login requests from this address: try again in ${ctx.after}`, AuthErrorCode.THROTTLED, { retryAfterS: Math.ceil(ctx.ttl / 1000) })
        }
      })
      scope.setErrorHandler(async (err, _req, reply) => {
        if (err instanceof AuthError) {
          if (err.retryAfterS != null) void reply.header('retry-after', String(err.retryAfterS))
          return await html(reply, AUTH_HTTP_STATUS[err.code], loginPage(err.message))
        }
        const e = err as { statusCode?: number, message?: string }
        const status = e.statusCode ?? 500
        return await html(reply, status, refusalPage('Error', status < 500 ? String(e.message) : 'the node could not answer this request; its log says why'))
      })

      scope.get('/review', {
        config: { access: 'person' },
        // the front door: without a session it is the login form (not a refusal)
        preHandler: async function (req, reply) {
          if (await viewerOf(req) == null) return await html(reply, 200, loginPage())
          return await reviewer.call(this, req, reply)
        }
      }, async (req, reply) => {
        const q = req.query as { done?: string }
        return await html(reply, 200, queuePage(c.review.list(), (await viewerOf(req))!, q.done != null ? DONE[q.done] : undefined))
      })

      scope.post('/review/login', { config: { access: 'person', rateLimit: { max: o.loginPerMinute, timeWindow: 60_000 } } }, async (req, reply) => {
        const user = field(req.body, 'user').slice(0, 64)
        const password = field(req.body, 'password')
        const code = field(req.body, 'code')
        if (user === '' || password === '' || code === '') return await html(reply, 400, loginPage('Give your user name, password and the code from your authenticator app.', user))
        let grant
        try {
          grant = await c.auth.login({ user, password, code: code.slice(0, 16), address: req.ip })
        } catch (err) {
          if (!(err instanceof AuthError)) throw err
          if (err.retryAfterS != null) void reply.header('retry-after', String(err.retryAfterS))
          return await html(reply, AUTH_HTTP_STATUS[err.code], loginPage(err.message, user))
        }
        await setSessionCookie(c.auth, req, reply, grant, o.secureCookies)
        return await reply.redirect('/review', 303)
      })

      scope.post('/review/logout', { preHandler: person }, async (req, reply) => {
        await c.auth.logout(req.cookies[SESSION_COOKIE], req.ip)
        clearSessionCookie(reply, o.secureCookies)
        return await reply.redirect('/review', 303)
      })

      scope.get('/review/tasks/:id', { preHandler: reviewer }, async (req, reply) => {
        const done = (req.query as { done?: string }).done
        return await showTask(req, reply, 200, { done: done != null ? DONE[done] : undefined })
      })

      scope.post('/review/tasks/:id/claim', { preHandler: reviewer }, async (req, reply) =>
        await act(req, reply, async (who) => await c.review.claim(id(req), who), taskUrl(id(req), 'claimed')))

      scope.post('/review/tasks/:id/release', { preHandler: reviewer }, async (req, reply) =>
        await act(req, reply, async (who) => await c.review.release(id(req), who), taskUrl(id(req), 'released')))

      scope.post('/review/tasks/:id/resolve', { preHandler: reviewer }, async (req, reply) => {
        const draft: ResolveDraft = { ...EMPTY_DRAFT, output: field(req.body, 'output'), annotation: field(req.body, 'annotation'), reuse: field(req.body, 'reuse') === 'true', fix: field(req.body, 'fix') }
        return await act(req, reply, async (who) => {
          let output: unknown
          try {
            output = JSON.parse(draft.output)
          } catch (err) {
            throw new ReviewError(`the output is not JSON: ${(err as Error).message}`, ReviewErrorCode.BAD_REQUEST)
          }
          let fix: unknown
          try {
            fix = draft.fix.trim() === '' ? undefined : JSON.parse(draft.fix)
          } catch (err) {
            throw new ReviewError(`the fix is not JSON: ${(err as Error).message}`, ReviewErrorCode.INVALID_FIX)
          }
          return await c.review.resolve(id(req), who, { output, annotation: draft.annotation, reuse: draft.reuse, fix })
        }, `/review?done=resolved`, draft)
      })

      scope.post('/review/tasks/:id/reject', { preHandler: reviewer }, async (req, reply) => {
        const draft: ResolveDraft = { ...EMPTY_DRAFT, reason: field(req.body, 'reason') }
        return await act(req, reply, async (who) => await c.review.reject(id(req), who, draft.reason), '/review?done=rejected', draft)
      })
    })
  }
}

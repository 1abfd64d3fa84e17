import type { FastifyInstance, FastifyReply } from 'fastify'
import type { Auth } from '../auth/index.js'
import { REVIEW_STATUS, ReviewError, type ReviewQueue } from '../review/index.js'
import { taskView, type TaskRecord } from '../tasks/index.js'
import { requirePerson } from './auth-routes.js'

/**
 * The review queue over JSON, for the CLI and scripts (`aas review …`): only a person with the
 * `reviewer` role and a live session acts, and every state-changing request carries the
 * session's CSRF token. The reviewer pages use the same queue.
 */
export interface ReviewRoutesComponents {
  review: ReviewQueue
  auth: Auth
}

export async function sendReviewError (reply: FastifyReply, err: unknown): Promise<FastifyReply> {
  if (!(err instanceof ReviewError)) throw err
  const status = REVIEW_STATUS[err.code as keyof typeof REVIEW_STATUS] ?? 400
  return await reply.code(status).send({ statusCode: status, code: err.code, error: err.name, message: err.message, ...(err.holder != null ? { holder: err.holder, holdUntil: err.holdUntil } : {}) })
}

const brief = (t: TaskRecord): Record<string, unknown> => {
  const { history: _h, attemptsLog: _a, ...rest } = taskView(t)
  return rest
}

export function reviewRoutes (c: ReviewRoutesComponents) {
  return (app: FastifyInstance): void => {
    const reviewer = { preHandler: requirePerson({ auth: c.auth }, { role: 'reviewer' }) }
    const who = (req: { person?: { name: string } }): string => req.person!.name
    const id = (req: { params: unknown }): string => (req.params as { id: string }).id

    app.get('/v1/review/queue', reviewer, async () => ({ tasks: c.review.list(), holdS: c.review.options.holdMs / 1000 }))

    app.get('/v1/review/tasks/:id', reviewer, async (req, reply) => {
      try { return await c.review.show(id(req), who(req)) } catch (err) { return await sendReviewError(reply, err) }
    })

    app.post('/v1/review/tasks/:id/claim', reviewer, async (req, reply) => {
      try { return brief(await c.review.claim(id(req), who(req))) } catch (err) { return await sendReviewError(reply, err) }
    })

    app.post('/v1/review/tasks/:id/release', reviewer, async (req, reply) => {
      try { return brief(await c.review.release(id(req), who(req))) } catch (err) { return await sendReviewError(reply, err) }
    })

    app.post('/v1/review/tasks/:id/resolve', reviewer, async (req, reply) => {
      // fix (optional): {input: {field: value}}, kept for the same failure on later tasks
      const body = (req.body ?? {}) as { output?: unknown, annotation?: unknown, reuse?: unknown, fix?: unknown }
      try { return brief(await c.review.resolve(id(req), who(req), body)) } catch (err) { return await sendReviewError(reply, err) }
    })

    app.post('/v1/review/tasks/:id/reject', reviewer, async (req, reply) => {
      const body = (req.body ?? {}) as { reason?: unknown }
      try { return brief(await c.review.reject(id(req), who(req), body.reason)) } catch (err) { return await sendReviewError(reply, err) }
    })
  }
}

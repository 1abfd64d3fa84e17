import type { FastifyInstance } from 'fastify'
import type { Auth } from '../auth/index.js'
import type { AuditLog } from '../audit/index.js'
import type { FixHints, LearnedAnswers, Quarantine } from '../improve/index.js'
import type { Release } from '../../protocol/index.js'
import { requirePerson } from './auth-routes.js'
import { personActor } from '../auth/index.js'

/**
 * What the node has learned, over HTTP: the answers reviewers allowed to be reused
 * (`GET /v1/memory/answers?skill=`), and withdrawing one — by the reviewer who gave it or an
 * admin, with a session and its CSRF token; audited either way. The releases quarantined here
 * (`GET /v1/memory/quarantine`) and lifting a quarantine (an admin, audited); the fixes
 * reviewers gave (`GET /v1/memory/fixes?skill=`).
 */
export interface MemoryRoutesComponents {
  answers: LearnedAnswers
  auth: Auth
  audit: Pick<AuditLog, 'append'>
  quarantine?: Quarantine
  fixes?: FixHints
  /** To find the release a lift names (a CID or NAME@VERSION). */
  index?: { byContent: (cid: string) => { release: Release } | undefined, resolve: (ref: string) => { release: Release } | undefined }
}

const notFound = (message: string): Record<string, unknown> => ({ statusCode: 404, code: 'ERR_NOT_FOUND', error: 'NotFound', message })

export function memoryRoutes (c: MemoryRoutesComponents) {
  return (app: FastifyInstance): void => {
    app.get('/v1/memory/answers', async (req) => {
      const { skill } = req.query as { skill?: string }
      const answers = await c.answers.list(typeof skill === 'string' && skill !== '' ? skill : undefined)
      return { answers: answers.map(a => ({ ...a, resolvedBy: a.resolvedBy.replace(/^user:/, '') })) }
    })

    app.post('/v1/memory/answers/:task/withdraw', { preHandler: requirePerson({ auth: c.auth }) }, async (req, reply) => {
      const task = (req.params as { task: string }).task
      const person = req.person!
      const a = await c.answers.byReview(task)
      if (a == null) return await reply.code(404).send({ statusCode: 404, code: 'ERR_NOT_FOUND', error: 'NotFound', message: `no answer was learned from task ${task}` })
      if (a.resolvedBy !== personActor(person.name) && !person.roles.includes('admin')) {
        await c.audit.append({ action: 'review.refused', subject: task, actor: personActor(person.name), details: { action: 'withdraw', code: 'ERR_FORBIDDEN' } })
        return await reply.code(403).send({ statusCode: 403, code: 'ERR_FORBIDDEN', error: 'Forbidden', message: 'only the reviewer who gave an answer, or an admin, may withdraw it' })
      }
      const done = await c.answers.withdraw(task, personActor(person.name))
      await c.audit.append({ action: 'learned.withdrawn', subject: task, actor: personActor(person.name), details: { skill: a.skill, major: a.major } })
      return { ...done, resolvedBy: a.resolvedBy.replace(/^user:/, '') }
    })

    app.get('/v1/memory/quarantine', async (req) => {
      const { all } = req.query as { all?: string }
      return { quarantine: c.quarantine?.list(all === '1' || all === 'true') ?? [] }
    })

    // an admin only: a quarantine is the node's judgement on a release's record, lifting it overrides that
    app.post('/v1/memory/quarantine/:release/lift', { preHandler: requirePerson({ auth: c.auth }, { role: 'admin' }) }, async (req, reply) => {
      const ref = (req.params as { release: string }).release
      const person = req.person!
      const release = c.index?.byContent(ref)?.release ?? (ref.includes('@') ? c.index?.resolve(ref)?.release : undefined)
      if (release == null) return await reply.code(404).send(notFound(`no release ${ref} on this node: name it by CID or NAME@VERSION`))
      const q = await c.quarantine?.lift(release.cid, personActor(person.name))
      if (q == null) return await reply.code(404).send(notFound(`${release.name}@${release.version} is not quarantined on this node`))
      return q
    })

    app.get('/v1/memory/fixes', async (req) => {
      const { skill } = req.query as { skill?: string }
      const fixes = c.fixes?.list(typeof skill === 'string' && skill !== '' ? skill : undefined) ?? []
      return { fixes: fixes.map(f => ({ ...f, resolvedBy: f.resolvedBy.replace(/^user:/, '') })) }
    })
  }
}

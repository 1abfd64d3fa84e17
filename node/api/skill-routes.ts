import type { FastifyInstance, FastifyReply } from 'fastify'
import { AasError } from '../../protocol/errors.js'
import type { Release } from '../../protocol/index.js'
import type { SkillIndex } from '../../skills/index/index.js'
import type { SkillService } from '../skills/index.js'
import type { Quarantine } from '../improve/index.js'

/**
 * The skill library over HTTP: publish (the CLI signs; the node checks and stores),
 * search, show, and fetch with progress as NDJSON lines.
 */
export interface SkillRoutesComponents {
  skills: SkillService
  index: SkillIndex
  maxBundleBytes: number
  /** Releases this node quarantined (the SelfImprover): shown with the release. */
  quarantine?: Pick<Quarantine, 'status' | 'active'>
}

const STATUS: Record<string, number> = {
  ERR_PUBLISH_INVALID: 400,
  ERR_PUBLISH_UNTRUSTED: 403,
  ERR_PUBLISH_CONFLICT: 409,
  ERR_PUBLISH_ROLLBACK: 409,
  ERR_NOT_FOUND: 404,
  ERR_FETCH_NO_PROVIDER: 502,
  ERR_FETCH_FAILED: 502,
  ERR_UNKNOWN_SKILL: 404,
  ERR_INVALID_INPUT: 400,
  ERR_INPUT_TOO_LARGE: 413,
  ERR_BAD_SUBMISSION: 400
}

export function sendError (reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof AasError) {
    const status = STATUS[err.code] ?? 400
    return reply.code(status).send({ statusCode: status, code: err.code, error: err.name, message: err.message })
  }
  throw err
}

export function skillRoutes (c: SkillRoutesComponents) {
  return (app: FastifyInstance): void => {
    // base64 makes the body ~4/3 of the bundle
    app.post('/v1/skills/publish', { bodyLimit: Math.ceil(c.maxBundleBytes * 4 / 3) + 512 * 1024 }, async (req, reply) => {
      const body = req.body as { release?: Release, manifest?: Record<string, unknown>, bundle?: string, authorCert?: string } | undefined
      if (body?.release == null || body.manifest == null || typeof body.bundle !== 'string') {
        return await reply.code(400).send({ statusCode: 400, code: 'ERR_PUBLISH_INVALID', error: 'PublishError', message: 'publish needs {release, manifest, bundle (base64)}' })
      }
      try {
        return await c.skills.publish(body.release, body.manifest, Buffer.from(body.bundle, 'base64'), typeof body.authorCert === 'string' ? body.authorCert : undefined)
      } catch (err) {
        return sendError(reply, err)
      }
    })

    app.get('/v1/skills', async (req) => {
      const q = req.query as { q?: string, tag?: string, category?: string }
      return c.index.search(q.q ?? '', { tag: q.tag, category: q.category })
    })

    app.get('/v1/skills/:ref', async (req, reply) => {
      const { ref } = req.params as { ref: string }
      const e = c.index.resolve(decodeURIComponent(ref))
      if (e == null) return await reply.code(404).send({ statusCode: 404, code: 'ERR_NOT_FOUND', error: 'NotFound', message: `no trusted release matches ${ref}` })
      const all = c.index.versions(e.release.name, e.release.author)
      const versions = all.map(v => v.release.version)
      // quarantined on this node: this release (in force or ended, and why), and which of its versions are now
      const quarantine = c.quarantine?.status(e.release.cid) ?? null
      const quarantined = all.filter(v => c.quarantine?.active(v.release.cid) != null).map(v => v.release.version)
      return { ...e.release, manifest: e.manifest, announcer: e.announcer, indexedAt: e.indexedAt, versions, quarantine, quarantined }
    })

    // NDJSON: {"progress": {...}} lines, then {"result": {...}} or {"error": {...}}
    app.post('/v1/skills/fetch', async (req, reply) => {
      const { ref } = (req.body ?? {}) as { ref?: string }
      if (typeof ref !== 'string' || ref === '') return await reply.code(400).send({ statusCode: 400, code: 'ERR_USAGE', error: 'UsageError', message: 'fetch needs {ref}' })
      reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson' })
      const line = (v: unknown): void => { reply.raw.write(JSON.stringify(v) + '\n') }
      let last = 0
      const abort = new AbortController()
      reply.raw.on('close', () => { abort.abort() })
      try {
        const result = await c.skills.fetch(ref, {
          signal: abort.signal,
          onProgress: (p) => {
            const now = Date.now()
            if (now - last < 100 && p.bytes < p.total) return
            last = now
            line({ progress: p })
          }
        })
        line({ result })
      } catch (err: any) {
        line({ error: { code: err.code ?? 'ERR_FETCH_FAILED', message: err.message, attempts: err.attempts } })
      }
      reply.raw.end()
      return reply
    })
  }
}

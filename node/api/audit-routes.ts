import type { FastifyInstance, FastifyReply } from 'fastify'
import { decodeCanonical, type AuditEntry } from '../../protocol/index.js'
import { entryKey, type AuditLog } from '../audit/index.js'
import type { Db } from '../store/index.js'

/**
 * The audit trail over HTTP: pages of entries (what `aas audit verify|tail|export` read from a
 * running node, whose LevelDB they cannot open), a follow stream (NDJSON, one entry a line as
 * it is written), and the latest checkpoint or a new one.
 */
export interface AuditRoutesComponents {
  audit: Pick<AuditLog, 'subscribe' | 'checkpoint' | 'latestCheckpoint' | 'headSeq'>
  /** The audit bucket, read by key: a page ends where its keys end, whatever its values say. */
  db: Db
}

export const AUDIT_PAGE_DEFAULT = 100
export const AUDIT_PAGE_MAX = 1000

export interface AuditPage {
  /** As stored: a value that is not an entry is handed on as it is, for the verifier to name. */
  entries: unknown[]
  /** Seq of the last entry on disk. */
  headSeq: number
  /** `from` of the next page; null when this page reached the end. */
  next: number | null
}

/** Entries by key from `from`; `next` follows the keys, so a deleted or moved entry never shifts a page. */
export async function readAuditPage (db: Db, from: number, limit: number): Promise<{ entries: unknown[], next: number | null }> {
  const entries: unknown[] = []
  let lastKey: string | undefined
  for await (const [key, value] of db.iterator({ gte: entryKey(from), lt: 'e!\xff', limit })) {
    let e: unknown
    try { e = decodeCanonical(value) } catch { e = { undecodable: key } }
    entries.push(e)
    lastKey = key
  }
  return { entries, next: entries.length < limit || lastKey == null ? null : Number(lastKey.slice(2)) + 1 }
}

function badQuery (reply: FastifyReply, message: string): FastifyReply {
  return reply.code(400).send({ statusCode: 400, code: 'ERR_USAGE', error: 'UsageError', message })
}

/** A query number: absent → `dflt`; a whole number ≥ 1 → itself; else undefined (bad). */
function intParam (v: string | undefined, dflt: number): number | undefined {
  if (v == null || v === '') return dflt
  const n = Number(v)
  return /^\d+$/.test(v) && Number.isSafeInteger(n) && n >= 1 ? n : undefined
}

export function auditRoutes (c: AuditRoutesComponents) {
  /** Open follow streams, ended when the server closes (else its close would wait on them). */
  const followers = new Set<() => void>()

  return (app: FastifyInstance): void => {
    app.addHook('preClose', (done) => {
      for (const end of followers) end()
      done()
    })

    app.get('/v1/audit', async (req, reply) => {
      const q = req.query as { from?: string, limit?: string }
      const from = intParam(q.from, 1)
      if (from == null) return badQuery(reply, 'from must be a whole number from 1 (a seq)')
      const limit = intParam(q.limit, AUDIT_PAGE_DEFAULT)
      if (limit == null) return badQuery(reply, 'limit must be a whole number from 1')
      // a bigger page is cut to the most, and `next` says where to go on
      const page: AuditPage = { ...await readAuditPage(c.db, from, Math.min(limit, AUDIT_PAGE_MAX)), headSeq: c.audit.headSeq }
      return page
    })

    // NDJSON: the entries from `from` on disk (default: none, only new ones), then each new
    // entry as it is written, until the client goes away or the node stops
    app.get('/v1/audit/follow', async (req, reply) => {
      const from = intParam((req.query as { from?: string }).from, c.audit.headSeq + 1)
      if (from == null) return badQuery(reply, 'from must be a whole number from 1 (a seq)')
      reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson' })
      let sent = from - 1
      const send = (e: unknown): void => {
        const seq = (e as Partial<AuditEntry>).seq
        if (typeof seq === 'number' && seq <= sent) return
        if (typeof seq === 'number') sent = seq
        reply.raw.write(JSON.stringify(e) + '\n')
      }
      // live entries wait while the backlog is read, so none falls between the two
      let waiting: AuditEntry[] | undefined = []
      const unsubscribe = c.audit.subscribe((e) => { if (waiting != null) waiting.push(e); else send(e) })
      let end = (): void => {}
      const closed = new Promise<void>((resolve) => { end = resolve })
      followers.add(end)
      reply.raw.on('close', end)
      try {
        for (let next: number | null = from; next != null && !reply.raw.destroyed;) {
          const page = await readAuditPage(c.db, next, AUDIT_PAGE_MAX)
          page.entries.forEach(send)
          next = page.next
        }
        waiting.forEach(send)
        waiting = undefined
        await closed
      } finally {
        unsubscribe()
        followers.delete(end)
        reply.raw.end()
      }
      return reply
    })

    app.get('/v1/audit/checkpoint', async (_req, reply) => {
      const cp = c.audit.latestCheckpoint()
      if (cp == null) return await reply.code(404).send({ statusCode: 404, code: 'ERR_NOT_FOUND', error: 'NotFound', message: 'this node has signed no audit checkpoint yet' })
      return cp
    })

    app.post('/v1/audit/checkpoint', async () => await c.audit.checkpoint())
  }
}

import type { FastifyInstance } from 'fastify'
import { isTerminal, taskView, TASK_STATES, type MemoryEngine, type TaskExecutor, type TaskOrigin, type TaskState, type TaskStore, type TaskWatchers } from '../tasks/index.js'
import { taskSubmit } from '../../protocol/index.js'
import { sendError } from './skill-routes.js'

/**
 * Tasks over HTTP (the local convenience; CLI peers elsewhere use the stream protocols):
 * submit, status, list, watch (NDJSON, one line per change), cancel, and the memory summary.
 */
export interface TaskRoutesComponents {
  origin: TaskOrigin
  watchers: TaskWatchers
  executor: TaskExecutor
  store: TaskStore
  memory: MemoryEngine
  self: string
}

const SUBMIT_FIELDS: ReadonlySet<string> = new Set(Object.keys((taskSubmit.schema as { properties: Record<string, unknown> }).properties))

export function taskRoutes (c: TaskRoutesComponents) {
  return (app: FastifyInstance): void => {
    app.post('/v1/tasks', { bodyLimit: 2 * 1024 * 1024 }, async (req, reply) => {
      // as strict as the stream's task-submit (the same fields; timeoutS and attempts may be left to the node)
      const body = req.body
      const unknown = body != null && typeof body === 'object' && !Array.isArray(body) ? Object.keys(body).filter(k => !SUBMIT_FIELDS.has(k)) : []
      if (unknown.length > 0) return await reply.code(400).send({ statusCode: 400, code: 'ERR_USAGE', error: 'UsageError', message: `unknown field "${unknown[0]}": a task is {${[...SUBMIT_FIELDS].join(', ')}}` })
      try {
        const t = await c.origin.submit(req.body as any, c.self)
        return await reply.code(201).send({ id: t.id })
      } catch (err) {
        return sendError(reply, err)
      }
    })

    app.get('/v1/tasks', async (req, reply) => {
      const { state, limit } = req.query as { state?: string, limit?: string }
      if (state != null && !TASK_STATES.includes(state as TaskState)) return await reply.code(400).send({ statusCode: 400, code: 'ERR_USAGE', error: 'UsageError', message: `state must be one of ${TASK_STATES.join(', ')}` })
      const max = Math.min(Number(limit ?? 1000) || 1000, 10_000)
      const out: unknown[] = []
      for await (const t of c.store.all()) {
        if (state != null && t.state !== state) continue
        const { history: _h, attemptsLog: _a, ...brief } = taskView(t)
        out.push(brief)
        if (out.length >= max) break
      }
      return out
    })

    app.get('/v1/tasks/:id', async (req, reply) => {
      const t = await c.origin.get((req.params as { id: string }).id)
      if (t == null) return await reply.code(404).send({ statusCode: 404, code: 'ERR_NOT_FOUND', error: 'NotFound', message: `no task ${(req.params as { id: string }).id} on this node` })
      return taskView(t)
    })

    app.get('/v1/tasks/:id/watch', async (req, reply) => {
      const id = (req.params as { id: string }).id
      const t = await c.origin.get(id)
      if (t == null) return await reply.code(404).send({ statusCode: 404, code: 'ERR_NOT_FOUND', error: 'NotFound', message: `no task ${id} on this node` })
      reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson' })
      const send = (x: typeof t): void => {
        const { history: _h, attemptsLog: _a, ...brief } = taskView(x)
        reply.raw.write(JSON.stringify(brief) + '\n')
      }
      send(t)
      if (isTerminal(t.state)) { reply.raw.end(); return reply }
      await new Promise<void>((resolve) => {
        const stop = c.watchers.watch(id, (x) => {
          send(x)
          if (isTerminal(x.state)) { stop(); resolve() }
        })
        reply.raw.on('close', () => { stop(); resolve() })
      })
      reply.raw.end()
      return reply
    })

    app.post('/v1/tasks/:id/cancel', async (req, reply) => {
      const t = await c.origin.cancel((req.params as { id: string }).id)
      if (t == null) return await reply.code(404).send({ statusCode: 404, code: 'ERR_NOT_FOUND', error: 'NotFound', message: 'no such task on this node' })
      return taskView(t)
    })

    // outcomes per release (of one skill name with ?skill=), and how much the memory keeps
    app.get('/v1/memory', async (req) => {
      const { skill } = req.query as { skill?: string }
      const { maxOutcomes, maxAgeDays } = c.memory.options
      return {
        skills: c.memory.summary(typeof skill === 'string' && skill !== '' ? skill : undefined),
        executor: { slots: c.executor.slots, busy: c.executor.busy },
        stored: { outcomes: c.memory.size, maxOutcomes, maxAgeDays, evicted: c.memory.evicted }
      }
    })
  }
}

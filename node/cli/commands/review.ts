import type { Command } from 'commander'
import { UsageError } from '../../../protocol/errors.js'
import { emit } from '../output.js'

/**
 * `aas review …`: the human review queue from a terminal, as the person logged in with
 * `aas login` (the node checks the session, the reviewer role and the CSRF token, and audits
 * every view and action with the person). The same queue as the reviewer page.
 */
interface QueueItem { id: string, skill: string, cause: string, reason: string, ageS: number, holder: string | null, holdUntil: number | null, attempts: number, tier: number }

const age = (s: number): string => s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`
const person = (actor: string | null | undefined): string => actor == null ? '-' : actor.replace(/^user:/, '')

async function client (opts: { api?: string, data?: string }): Promise<{ api: string, call: <T>(path: string, init?: { method?: string, body?: unknown }) => Promise<T> }> {
  const [{ resolveApiUrl }, { personRequest }] = await Promise.all([import('../api-client.js'), import('../person-client.js')])
  const api = await resolveApiUrl(opts)
  return { api, call: async <T>(path: string, init: { method?: string, body?: unknown } = {}) => await personRequest<T>(api, path, init) }
}

/** `--output JSON|@FILE`: the answer, parsed here so a typo is a usage error (exit 2). */
async function readOutput (value: string): Promise<unknown> {
  const { readInput } = await import('./skill.js')
  try {
    return await readInput(value)
  } catch (err: any) {
    throw new UsageError(`--output: ${String(err.message ?? err)}`)
  }
}

export function registerReview (program: Command): void {
  const review = program.command('review').description('the human review queue of a node (log in first: aas login)')
  const api = (cmd: Command): Command => cmd
    .option('--api <url>', 'the node\'s API [env AAS_API; default: the node on --data]')
    .option('--data <dir>', 'find the API of the node running on this data dir [default: env AAS_DATA, ~/.aas]')
    .option('--json', 'print JSON')
  const task = (id: string): string => `/v1/review/tasks/${encodeURIComponent(id)}`

  api(review.command('list'))
    .description('tasks waiting for a person, oldest first')
    .action(async (opts) => {
      const c = await client(opts)
      const { tasks } = await c.call<{ tasks: QueueItem[] }>('/v1/review/queue')
      emit(opts.json === true, tasks, () => tasks.length === 0
        ? 'no task waits for review'
        : tasks.map(t => `${t.id}  ${t.skill}  waiting ${age(t.ageS)}  ${t.cause}${t.holder != null ? `  held by ${person(t.holder)}` : ''}\n    ${t.reason}`).join('\n'))
    })

  api(review.command('show <id>'))
    .description('one task as a reviewer sees it: skill, input, every attempt')
    .action(async (id: string, opts) => {
      const c = await client(opts)
      const t = await c.call<any>(task(id))
      emit(opts.json === true, t, () => [
        `${String(t.id)}  ${String(t.state)}  ${String(t.skill?.name)}@${String(t.skill?.version)}  tier ${String(t.tier)}`,
        ...(t.review != null ? [`  review   ${String(t.review.cause)}: ${String(t.review.reason)}${t.review.holder != null ? `  (held by ${person(t.review.holder)})` : ''}`] : []),
        `  input    ${JSON.stringify(t.input)}`,
        ...(t.outputSchema != null ? [`  answer   must match ${JSON.stringify(t.outputSchema)}`] : []),
        '  attempts',
        ...(t.attemptsLog as any[]).map(a => `    ${String(a.attempt)}  ${String(a.executor).slice(-12)}  ${String(a.status ?? 'running')}${a.error != null ? `  ${String(a.error)}` : ''}`)
      ].join('\n'))
    })

  api(review.command('claim <id>'))
    .description('hold a task for yourself for a while, so no other reviewer works it')
    .action(async (id: string, opts) => {
      const c = await client(opts)
      const t = await c.call<any>(`${task(id)}/claim`, { method: 'POST', body: {} })
      emit(opts.json === true, t, () => `${String(t.id)}  held by you until ${new Date(Number(t.review?.holdUntil)).toISOString()}`)
    })

  api(review.command('release <id>'))
    .description('give a task you hold back to the queue')
    .action(async (id: string, opts) => {
      const c = await client(opts)
      const t = await c.call<any>(`${task(id)}/release`, { method: 'POST', body: {} })
      emit(opts.json === true, t, () => `${String(t.id)}  back in the queue`)
    })

  api(review.command('resolve <id>'))
    .description('answer a task you hold: the output (checked against the skill\'s output schema) and a note')
    .requiredOption('--output <json|@file>', 'the answer, JSON or @FILE')
    .option('--annotation <text>', 'what you did and why: returned to the publisher with the answer', '')
    .option('--reuse', 'allow this answer to be reused for identical inputs')
    .option('--fix <json>', 'how the input should have been, {"input": {FIELD: VALUE}}: retried once with it when the same failure comes back')
    .action(async (id: string, opts) => {
      const output = await readOutput(opts.output)
      let fix: unknown
      if (opts.fix != null) {
        try { fix = JSON.parse(opts.fix) } catch (err: any) { throw new UsageError(`--fix: not JSON: ${String(err.message)}`) }
      }
      const c = await client(opts)
      const t = await c.call<any>(`${task(id)}/resolve`, { method: 'POST', body: { output, annotation: opts.annotation, reuse: opts.reuse === true, ...(fix !== undefined ? { fix } : {}) } })
      emit(opts.json === true, t, () => `${String(t.id)}  resolved by ${person(t.resolvedBy)}`)
    })

  api(review.command('reject <id>'))
    .description('end a task you hold as failed, with your reason')
    .requiredOption('--reason <text>', 'why: returned to the publisher')
    .action(async (id: string, opts) => {
      const c = await client(opts)
      const t = await c.call<any>(`${task(id)}/reject`, { method: 'POST', body: { reason: opts.reason } })
      emit(opts.json === true, t, () => `${String(t.id)}  failed: ${String(t.error)}`)
    })
}

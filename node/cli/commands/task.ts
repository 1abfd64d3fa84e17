import { Option, type Command } from 'commander'
import { AasError, UsageError } from '../../../protocol/errors.js'
import { apiLines, apiRequest, resolveApiUrl } from '../api-client.js'
import { emit } from '../output.js'
import { readInput } from './skill.js'

/**
 * `aas task`: submit, status, list, watch, cancel. `--api URL` (default: the local node)
 * uses the HTTP API; `--node MULTIADDR` makes the CLI a libp2p peer with its own key that
 * submits over the task stream protocol, and that node becomes the task's origin.
 */
interface HistoryLine { at: number, state: string, attempt: number, executor?: string, detail?: string }
interface TaskView { id: string, state: string, executor: string | null, attempts: number, output: unknown, error: string | null, durationMs: number | null, history?: HistoryLine[], skill: { name: string, version: string }, resolvedBy?: string | null, annotation?: string | null, review?: { reason: string } | null }

/** A task that ended well: done by an agent, or answered by a person. */
const GOOD_ENDS = new Set(['succeeded', 'resolved'])

class TaskFailed extends AasError {
  constructor (message: string) {
    super(message, 'ERR_TASK_FAILED')
    this.name = 'TaskFailed'
  }
}

export const positiveInt = (flag: string, max: number) => (v: string): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${flag}: "${v}" is not a whole number from 1 to ${max}`)
  return n
}

/** Talks to the task's node either way. */
interface TaskClient {
  submit: (req: { skill: string, input: unknown, timeoutS?: number, attempts?: number, onFailure?: string, scope?: string }) => Promise<string>
  status: (id: string) => Promise<TaskView>
  close: () => Promise<void>
}

/** The node refuses an input over its limit before reading it: say why here, either way. */
function checkInputSize (input: unknown, max: number): void {
  const bytes = Buffer.byteLength(JSON.stringify(input))
  if (bytes > max) throw new AasError(`input is ${bytes} bytes, over the ${max} byte limit`, 'ERR_INPUT_TOO_LARGE')
}

async function client (opts: { node?: string, api?: string, data?: string, cert?: string }): Promise<TaskClient> {
  if (opts.node != null) {
    const [{ CliPeer, cliCertificate }, { Signer }, { decodeCanonical, taskStatus, taskSubmit, Protocols, TASK_INPUT_MAX_BYTES, publicKeyText }] = await Promise.all([import('../peer.js'), import('../../signer.js'), import('../../../protocol/index.js')])
    const peer = await CliPeer.connect(opts.node)
    // a team's node accepts only members: this peer presents its certificate with every request
    const signer = new Signer(peer.key, { cert: await cliCertificate(opts.cert) })
    const answer = (bytes: Uint8Array): any => {
      const r = decodeCanonical(bytes) as any
      // the node refused: the operation failed (exit 1), as over the API
      if (r?.ok !== true) {
        const hint = String(r?.code ?? '').startsWith('ERR_MEMBERSHIP_') ? ` (this CLI peer is ${publicKeyText(peer.key.publicKey.raw)}: a team admin admits it with "aas team admit KEY --roles publisher --out FILE", then pass --cert FILE)` : ''
        throw new AasError(String(r?.message ?? 'the node refused the request') + hint, String(r?.code ?? 'ERR_REFUSED'))
      }
      return r
    }
    return {
      submit: async (req) => {
        checkInputSize(req.input, TASK_INPUT_MAX_BYTES)
        const body = { skill: req.skill, input: req.input, timeoutS: req.timeoutS ?? 300, attempts: req.attempts ?? 3, ...(req.onFailure != null ? { onFailure: req.onFailure as 'review' | 'fail' } : {}), ...(req.scope != null ? { scope: req.scope as 'team' | 'federation' } : {}) }
        return answer(await peer.call(Protocols.taskSubmit, await signer.seal(taskSubmit, body))).id
      },
      status: async (id) => answer(await peer.call(Protocols.taskStatus, await signer.seal(taskStatus, { taskId: id }))).task,
      close: async () => { await peer.close() }
    }
  }
  const url = await resolveApiUrl(opts)
  return {
    submit: async (req) => {
      checkInputSize(req.input, (await import('../../../protocol/index.js')).TASK_INPUT_MAX_BYTES)
      return (await apiRequest<{ id: string }>(url, '/v1/tasks', { method: 'POST', body: req })).id
    },
    status: async (id) => await apiRequest<TaskView>(url, `/v1/tasks/${encodeURIComponent(id)}`),
    close: async () => {}
  }
}

const human = (t: TaskView, withHistory = false): string => [
  `${t.id}  ${t.state}  ${t.skill.name}@${t.skill.version}`,
  `  executor ${t.executor ?? '-'}   attempts ${t.attempts}${t.durationMs != null ? `   ${t.durationMs} ms` : ''}`,
  ...(t.error != null ? [`  error    ${t.error}`] : []),
  ...(t.state === 'needs-review' && t.review != null ? [`  review   waiting for a person: ${t.review.reason}`] : []),
  ...(GOOD_ENDS.has(t.state) ? [`  output   ${JSON.stringify(t.output)}`] : []),
  ...(t.resolvedBy != null ? [`  by       ${t.resolvedBy.replace(/^user:/, '')}${t.annotation != null && t.annotation !== '' ? `: ${t.annotation}` : ''}`] : []),
  ...(withHistory && t.history != null && t.history.length > 0 ? ['  history', ...t.history.map(historyLine)] : [])
].join('\n')

/** One history entry: when, what, which attempt, on whom, and why. */
const historyLine = (h: HistoryLine): string =>
  `    ${new Date(h.at).toISOString()}  ${h.state.padEnd(14)}  attempt ${h.attempt}${h.executor != null ? `  ${h.executor}` : ''}${h.detail != null ? `  ${h.detail}` : ''}`

export function registerTask (program: Command): void {
  const task = program.command('task').description('submit tasks to the mesh and follow them')
  const api = (cmd: Command): Command => cmd
    .option('--api <url>', 'the node\'s HTTP API, a URL or HOST:PORT [default: the node on --data, env AAS_API]')
    .option('--data <dir>', 'data directory of the local node [default: ~/.aas, env AAS_DATA]')
  // over a stream only submit and status exist (task-submit, task-status); the rest is API only
  const target = (cmd: Command): Command => api(cmd
    .option('--node <multiaddr>', 'talk to this node as a libp2p peer (…/p2p/<id>); a task submitted so has it as its origin')
    .option('--cert <file>', 'with --node: this CLI peer\'s membership certificate [default: cli.cert beside the CLI key, env AAS_CLI_CERT]'))

  target(task.command('submit'))
    .description('submit a task; prints its id, or with --wait its outcome')
    .requiredOption('--skill <ref>', 'NAME, NAME@RANGE or a bundle CID')
    .requiredOption('--input <json|@file>', 'input JSON, or @FILE')
    .option('--timeout <s>', 'seconds until the task must have a result [default: 300]', positiveInt('--timeout', 86_400))
    .option('--attempts <n>', 'attempts before it fails [default: 3]', positiveInt('--attempts', 20))
    .addOption(new Option('--scope <scope>', 'where it may run: team (its origin\'s team only) or federation (partners granted execute too) [default: team]').choices(['team', 'federation']))
    .addOption(new Option('--on-failure <what>', 'when every tier failed: wait for a reviewer, or fail [default: review when the node has reviewers]').choices(['review', 'fail']))
    .option('--wait', 'wait for the outcome (a reviewer\'s answer too); exit 0 only if it succeeded or was resolved')
    .option('--json', 'print {id}, or with --wait {id, state, output, executor, attempts, durationMs, error, resolvedBy, annotation}')
    .action(async (opts) => {
      const input = await readInput(opts.input)
      const c = await client(opts)
      try {
        const id = await c.submit({ skill: opts.skill, input, timeoutS: opts.timeout, attempts: opts.attempts, onFailure: opts.onFailure, scope: opts.scope })
        if (opts.wait !== true) { emit(opts.json === true, { id }, () => id); return }
        const { TASK_TERMINAL_STATES } = await import('../../../protocol/index.js')
        const ended = (state: string): boolean => (TASK_TERMINAL_STATES as readonly string[]).includes(state)
        let t = await c.status(id)
        while (!ended(t.state)) {
          await new Promise(resolve => setTimeout(resolve, 200))
          t = await c.status(id)
        }
        const out = { id: t.id, state: t.state, output: t.output, executor: t.executor, attempts: t.attempts, durationMs: t.durationMs, error: t.error, resolvedBy: t.resolvedBy ?? null, annotation: t.annotation ?? null }
        emit(opts.json === true, out, () => human(t))
        if (!GOOD_ENDS.has(t.state)) process.exitCode = 1
      } finally {
        await c.close()
      }
    })

  target(task.command('status <id>'))
    .description('show a task: state, executor, attempts, output, history')
    .option('--json', 'print {id, state, executor, attempts, output, error, history}')
    .action(async (id: string, opts) => {
      const c = await client(opts)
      try {
        const t = await c.status(id)
        emit(opts.json === true, t, () => human(t, true))
      } finally { await c.close() }
    })

  api(task.command('list'))
    .description('list the tasks this node is the origin of')
    .option('--state <state>', 'only tasks in this state (offered, assigned, succeeded, failed, cancelled, …)')
    .option('--json', 'print an array')
    .action(async (opts) => {
      const { TASK_STATES } = await import('../../tasks/index.js')
      if (opts.state != null && !(TASK_STATES as string[]).includes(opts.state)) throw new UsageError(`--state: "${String(opts.state)}" is not a task state (${TASK_STATES.join(', ')})`)
      const url = await resolveApiUrl(opts)
      const q = opts.state != null ? `?state=${encodeURIComponent(opts.state)}` : ''
      const list = await apiRequest<TaskView[]>(url, `/v1/tasks${q}`)
      emit(opts.json === true, list, () => list.length === 0 ? 'no tasks' : list.map(t => `${t.id}  ${t.state.padEnd(9)}  ${t.skill.name}@${t.skill.version}  ${t.executor?.slice(-8) ?? '-'}`).join('\n'))
    })

  api(task.command('watch <id>'))
    .description('print each state change of a task as it happens, until it ends')
    .option('--json', 'one JSON object per change')
    .action(async (id: string, opts) => {
      const url = await resolveApiUrl(opts)
      let last: TaskView | undefined
      for await (const t of apiLines(url, `/v1/tasks/${encodeURIComponent(id)}/watch`) as AsyncIterable<TaskView>) {
        last = t
        emit(opts.json === true, t, () => `${new Date().toISOString()}  ${t.state}${t.executor != null ? `  on ${t.executor}` : ''}  (attempt ${t.attempts})${t.error != null ? `  ${t.error}` : ''}`)
      }
      if (last != null && !GOOD_ENDS.has(last.state)) process.exitCode = 1
    })

  api(task.command('cancel <id>'))
    .description('cancel a task this node is the origin of')
    .option('--json', 'print the task')
    .action(async (id: string, opts) => {
      const url = await resolveApiUrl(opts)
      const t = await apiRequest<TaskView>(url, `/v1/tasks/${encodeURIComponent(id)}/cancel`, { method: 'POST', body: {} })
      emit(opts.json === true, t, () => `${t.id}  ${t.state}`)
      if (t.state !== 'cancelled') throw new TaskFailed(`task ${t.id} had already ended (${t.state})`)
    })
}

import type { Command } from 'commander'
import { emit } from '../output.js'

/**
 * `aas memory …`: what a node has learned — outcomes per skill release (the MemoryEngine), the
 * answers reviewers allowed to be reused, the releases it quarantined and the fixes reviewers
 * gave — and withdrawing such an answer (the reviewer who gave it, or an admin) or lifting a
 * quarantine (an admin), logged in with `aas login`.
 */
interface Summary { skill: string, name?: string, version?: string, successes: number, failures: number, inputs: number, executors?: number, meanMs: number }
interface Answer { skill: string, major: number, version: string, review: string, resolvedBy: string, annotation: string, at: number, withdrawn: { by: string, at: number } | null }
interface Quarantined { cid: string, name: string, version: string, since: number, reason: string, lifted: { by: string, at: number, version?: string } | null }
interface Fix { signature: string, skill: string, major: number, fix: { input: Record<string, unknown> }, review: string, resolvedBy: string, applied: number, succeeded: number, failed: number, retired: { reason: string } | null }

export function registerMemory (program: Command): void {
  const memory = program.command('memory').description('what a node has learned: outcomes, and answers reviewers allowed to be reused')
  const api = (cmd: Command): Command => cmd
    .option('--api <url>', 'the node\'s API [env AAS_API; default: the node on --data]')
    .option('--data <dir>', 'find the API of the node running on this data dir [default: env AAS_DATA, ~/.aas]')
    .option('--json', 'print JSON')

  api(memory.command('show [skill]'))
    .description('outcomes per skill release, reusable answers, quarantined releases and fixes (of one skill by name)')
    .action(async (skill: string | undefined, opts) => {
      const { resolveApiUrl, apiRequest } = await import('../api-client.js')
      const url = await resolveApiUrl(opts)
      const q = skill != null ? `?skill=${encodeURIComponent(skill)}` : ''
      const [{ skills, stored }, { answers }, { quarantine: all }, { fixes }] = await Promise.all([
        apiRequest<{ skills: Summary[], stored?: { outcomes: number, maxOutcomes: number, maxAgeDays: number } }>(url, `/v1/memory${q}`),
        apiRequest<{ answers: Answer[] }>(url, `/v1/memory/answers${q}`),
        apiRequest<{ quarantine: Quarantined[] }>(url, '/v1/memory/quarantine'),
        apiRequest<{ fixes: Fix[] }>(url, `/v1/memory/fixes${q}`)
      ])
      const quarantine = all.filter(x => skill == null || x.name === skill)
      emit(opts.json === true, { skills, answers, quarantine, fixes, stored }, () => [
        `outcomes  ${skills.length === 0 ? 'none yet' : ''}${stored != null ? `  (${stored.outcomes} kept, at most ${stored.maxOutcomes}, ${stored.maxAgeDays} days)` : ''}`,
        ...skills.map(s => `  ${s.name != null ? `${s.name}@${String(s.version)}` : `${s.skill.slice(0, 20)}…`}  ${s.successes} ok, ${s.failures} failed, ${s.inputs} input(s), ${s.executors ?? '?'} executor(s), mean ${s.meanMs} ms`),
        `answers   ${answers.length === 0 ? 'none' : ''}`,
        ...answers.map(a => `  ${a.skill}@${a.major}.x  from review ${a.review}  by ${a.resolvedBy}${a.withdrawn != null ? `  (withdrawn by ${a.withdrawn.by.replace(/^user:/, '')})` : ''}${a.annotation !== '' ? `\n      ${a.annotation}` : ''}`),
        `quarantined ${quarantine.length === 0 ? 'none' : ''}`,
        ...quarantine.map(x => `  ${x.name}@${x.version}  since ${new Date(x.since).toISOString()}  ${x.cid}\n      ${x.reason}`),
        `fixes     ${fixes.length === 0 ? 'none' : ''}`,
        ...fixes.map(f => `  ${f.signature}  from review ${f.review} by ${f.resolvedBy}: ${JSON.stringify(f.fix.input)}  (${f.succeeded} of ${f.applied} retries worked${f.retired != null ? `; retired: ${f.retired.reason}` : ''})`)
      ].join('\n'))
    })

  api(memory.command('withdraw <task>'))
    .description('stop reusing the answer learned from the review of this task (its reviewer or an admin)')
    .action(async (task: string, opts) => {
      const [{ resolveApiUrl }, { personRequest }] = await Promise.all([import('../api-client.js'), import('../person-client.js')])
      const url = await resolveApiUrl(opts)
      const a = await personRequest<Answer>(url, `/v1/memory/answers/${encodeURIComponent(task)}/withdraw`, { method: 'POST', body: {} })
      emit(opts.json === true, a, () => `the answer from review ${a.review} is withdrawn: it will not be reused`)
    })

  api(memory.command('lift <release>'))
    .description('lift the quarantine of a release on this node: CID or NAME@VERSION (an admin)')
    .action(async (release: string, opts) => {
      const [{ resolveApiUrl }, { personRequest }] = await Promise.all([import('../api-client.js'), import('../person-client.js')])
      const url = await resolveApiUrl(opts)
      const q = await personRequest<Quarantined>(url, `/v1/memory/quarantine/${encodeURIComponent(release)}/lift`, { method: 'POST', body: {} })
      emit(opts.json === true, q, () => `${q.name}@${q.version} is no longer quarantined: tasks asking for it run it again`)
    })
}

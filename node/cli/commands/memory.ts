import type { Command } from 'commander'
import { emit } from '../output.js'

/**
 * `aas memory …`: what a node has learned — outcomes per skill release (the MemoryEngine) and
 * the answers reviewers allowed to be reused — and withdrawing such an answer (the reviewer who
 * gave it, or an admin, logged in with `aas login`).
 */
interface Summary { skill: string, successes: number, failures: number, inputs: number, meanMs: number }
interface Answer { skill: string, major: number, version: string, review: string, resolvedBy: string, annotation: string, at: number, withdrawn: { by: string, at: number } | null }

export function registerMemory (program: Command): void {
  const memory = program.command('memory').description('what a node has learned: outcomes, and answers reviewers allowed to be reused')
  const api = (cmd: Command): Command => cmd
    .option('--api <url>', 'the node\'s API [env AAS_API; default: the node on --data]')
    .option('--data <dir>', 'find the API of the node running on this data dir [default: env AAS_DATA, ~/.aas]')
    .option('--json', 'print JSON')

  api(memory.command('show [skill]'))
    .description('outcomes per skill release, and the reusable answers (of one skill by name)')
    .action(async (skill: string | undefined, opts) => {
      const { resolveApiUrl, apiRequest } = await import('../api-client.js')
      const url = await resolveApiUrl(opts)
      const [{ skills }, { answers }] = await Promise.all([
        apiRequest<{ skills: Summary[] }>(url, '/v1/memory'),
        apiRequest<{ answers: Answer[] }>(url, `/v1/memory/answers${skill != null ? `?skill=${encodeURIComponent(skill)}` : ''}`)
      ])
      emit(opts.json === true, { skills, answers }, () => [
        `outcomes  ${skills.length === 0 ? 'none yet' : ''}`,
        ...skills.map(s => `  ${s.skill.slice(0, 20)}…  ${s.successes} ok, ${s.failures} failed, ${s.inputs} input(s), mean ${s.meanMs} ms`),
        `answers   ${answers.length === 0 ? 'none' : ''}`,
        ...answers.map(a => `  ${a.skill}@${a.major}.x  from review ${a.review}  by ${a.resolvedBy}${a.withdrawn != null ? `  (withdrawn by ${a.withdrawn.by.replace(/^user:/, '')})` : ''}${a.annotation !== '' ? `\n      ${a.annotation}` : ''}`)
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
}

import { decodeCanonical, encodeCanonical } from '../../protocol/index.js'
import { Bucket, type NodeStore } from '../store/index.js'
import type { TaskEvent } from '../tasks/index.js'

/**
 * Recent success of each executor on each skill, for routing (the SelfImprover's rule 2): the
 * last `window` outcomes per skill name and executor, kept in LevelDB and in memory. A run that
 * failed, timed out, ran out of memory or lost its lease counts against the executor; a skill
 * asking for a person, or refusing its input, does not (that is the input's doing).
 */
export const ROUTING_WINDOW = 50
/** Outcomes that say nothing about the executor. */
const NEUTRAL = new Set(['needs-human', 'invalid-input'])

const key = (skill: string, executor: string): string => `x!${skill}!${executor}`

export class ExecutorRecords {
  /** `skill\nexecutor` → recent outcomes, oldest first, '1' success '0' failure. */
  private readonly recent = new Map<string, string>()

  constructor (private readonly c: { store: Pick<NodeStore, 'sublevel' | 'write'> }, private readonly window = ROUTING_WINDOW) {}

  async load (): Promise<void> {
    for await (const [k, v] of this.c.store.sublevel(Bucket.memory).iterator({ gte: 'x!', lt: 'x!\xff' })) {
      const [, skill, executor] = k.split('!')
      this.recent.set(`${skill}\n${executor}`, decodeCanonical(v) as string)
    }
  }

  /** Successes and runs of `executor` on `skill` in the window. */
  stats (skill: string, executor: string): { successes: number, runs: number } {
    const r = this.recent.get(`${skill}\n${executor}`) ?? ''
    let successes = 0
    for (const ch of r) if (ch === '1') successes++
    return { successes, runs: r.length }
  }

  readonly listener = (e: TaskEvent): void => {
    const executor = typeof e.details.executor === 'string' ? e.details.executor : null
    if (executor == null) return
    let ok: boolean
    if (e.kind === 'result') {
      const status = String(e.details.status)
      if (NEUTRAL.has(status)) return
      ok = status === 'succeeded'
    } else if (e.kind === 'lease-expired') {
      ok = false
    } else {
      return
    }
    const skill = e.task.spec.skill.name
    const id = `${skill}\n${executor}`
    const next = ((this.recent.get(id) ?? '') + (ok ? '1' : '0')).slice(-this.window)
    this.recent.set(id, next)
    void this.c.store.write([{ type: 'put', bucket: Bucket.memory, key: key(skill, executor), value: encodeCanonical(next) }]).catch(() => {})
  }
}

/**
 * The Wilson score lower bound (95%) of a success rate, with one success and one failure assumed
 * before any run: an executor nobody has seen ranks above one that keeps failing and below one
 * that keeps succeeding, and one lucky run does not win.
 */
export function successLowerBound (successes: number, runs: number, z = 1.96): number {
  const n = runs + 2
  const p = (successes + 1) / n
  const z2 = z * z
  return (p + z2 / (2 * n) - z * Math.sqrt((p * (1 - p) + z2 / (4 * n)) / n)) / (1 + z2 / n)
}

import semver from 'semver'
import { decodeCanonical, encodeCanonical, type LearnedAnswerBody } from '../../protocol/index.js'
import { Bucket, type NodeStore } from '../store/index.js'
import { inputFingerprint } from '../tasks/memory.js'
import type { TaskEvent } from '../tasks/index.js'

/**
 * Answers a reviewer allowed to be reused (the "reuse this answer for identical inputs" box):
 * kept per skill name, major version and input fingerprint, so an answer never crosses skill
 * names or major versions. The reviewer who gave it, or an admin, can withdraw it; a withdrawn
 * answer is kept (with who withdrew it) but never used again. Its fields are the ones a team
 * shares (protocol `learned-answer`): the skill, major and release, the input's fingerprint,
 * the output, the review task, who resolved it, their note, when, and any withdrawal.
 */
export interface LearnedAnswer extends LearnedAnswerBody {
  /** A teammate's answer: the node that shared it (absent: learned here). */
  sharedBy?: string
}

const answerKey = (skill: string, major: number, fp: string): string => `a!${skill}!${major}!${fp}`
const reviewKey = (taskId: string): string => `r!${taskId}`

export class LearnedAnswers {
  /** Told of each answer learned or withdrawn here (not of adopted ones): the team shares it. */
  onChange: ((a: LearnedAnswer) => void) | undefined

  constructor (private readonly c: { store: Pick<NodeStore, 'sublevel' | 'write'>, now: () => number }) {}

  private get db () { return this.c.store.sublevel(Bucket.learned) }

  /** The answer for this input of this skill's major version, unless withdrawn. */
  async find (skill: string, version: string, input: unknown): Promise<LearnedAnswer | undefined> {
    const major = semver.major(version)
    const v = await this.db.get(answerKey(skill, major, inputFingerprint(input)))
    if (v == null) return undefined
    const a = decodeCanonical(v) as LearnedAnswer
    return a.withdrawn == null ? a : undefined
  }

  async byReview (taskId: string): Promise<LearnedAnswer | undefined> {
    const key = await this.db.get(reviewKey(taskId))
    if (key == null) return undefined
    const v = await this.db.get(new TextDecoder().decode(key))
    return v == null ? undefined : decodeCanonical(v) as LearnedAnswer
  }

  /** Keeps a resolution the reviewer allowed to be reused (a later one for the same input wins). */
  readonly listener = (e: TaskEvent): void => {
    const r = e.task.review
    if (e.kind !== 'resolved' || r?.reuse !== true || r.resolvedBy == null) return
    const { skill } = e.task.spec
    const a: LearnedAnswer = {
      skill: skill.name,
      major: semver.major(skill.version),
      version: skill.version,
      input: inputFingerprint(e.task.spec.input),
      output: e.task.output,
      review: e.task.id,
      resolvedBy: r.resolvedBy,
      annotation: r.annotation ?? '',
      at: e.at,
      withdrawn: null
    }
    void this.put(a).then(() => { this.onChange?.(a) }).catch(() => {})
  }

  /**
   * A teammate's answer (already checked as a member's message): kept when this node has no
   * answer for that input yet or an older one; a withdrawal of the same review is kept too,
   * so a withdrawn answer stops being used across the team. Returns whether it changed anything.
   */
  async adopt (a: LearnedAnswer, from: string): Promise<boolean> {
    const key = answerKey(a.skill, a.major, a.input)
    const v = await this.db.get(key)
    const have = v != null ? decodeCanonical(v) as LearnedAnswer : undefined
    const withdrawal = a.withdrawn != null && have != null && have.review === a.review && have.withdrawn == null
    if (have != null && !withdrawal && (have.at >= a.at || have.review === a.review)) return false
    await this.put({ ...a, sharedBy: from })
    return true
  }

  private async put (a: LearnedAnswer): Promise<void> {
    const key = answerKey(a.skill, a.major, a.input)
    await this.c.store.write([
      { type: 'put', bucket: Bucket.learned, key, value: encodeCanonical(JSON.parse(JSON.stringify(a))) },
      { type: 'put', bucket: Bucket.learned, key: reviewKey(a.review), value: new TextEncoder().encode(key) }
    ], { sync: true })
  }

  /** Withdraws the answer learned from review `taskId`; returns it, or undefined if there is none. */
  async withdraw (taskId: string, by: string): Promise<LearnedAnswer | undefined> {
    const a = await this.byReview(taskId)
    if (a == null) return undefined
    if (a.withdrawn == null) {
      a.withdrawn = { by, at: this.c.now() }
      await this.put(a)
      this.onChange?.(a)
    }
    return a
  }

  async list (skill?: string): Promise<LearnedAnswer[]> {
    const out: LearnedAnswer[] = []
    const prefix = skill != null ? `a!${skill}!` : 'a!'
    for await (const [, v] of this.db.iterator({ gte: prefix, lt: `${prefix}\xff` })) out.push(decodeCanonical(v) as LearnedAnswer)
    return out
  }
}

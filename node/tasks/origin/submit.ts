import { createHash, randomBytes } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import { encodeCanonical, taskIdFor, TASK_INPUT_MAX_BYTES, TASK_SCOPES, type Release, type TaskScope } from '../../../protocol/index.js'
import { schemaProblem } from '../../../skills/manifest/index.js'
import { effectiveLimits } from '../../../skills/sandbox/options.js'
import { SubmitError, SubmitErrorCode } from '../errors.js'
import { ON_FAILURE, type OnFailure, type TaskRecord, type TaskSpec } from '../types.js'
import type { OriginContext } from './context.js'

/**
 * A submission checked before anything is stored (DESIGN.md "Task lifecycle" step 1): skill
 * resolved to a trusted release, input within its size limit and the skill's input schema,
 * timeout and attempts in range. The task id is the CID of the canonical spec plus a salt.
 */
export interface SubmitRequest {
  skill: string
  input: unknown
  timeoutS?: number
  attempts?: number
  onFailure?: OnFailure
  scope?: TaskScope
}

/** What submit needs of the skill index. */
export interface SkillResolver {
  resolve: (ref: string) => { release: Release, manifest: Record<string, any> } | undefined
}

export function newTask (ctx: OriginContext, req: SubmitRequest, submitter: string): TaskRecord {
  const { opts } = ctx
  if (typeof req?.skill !== 'string' || req.skill === '') throw new SubmitError('a task needs a skill: NAME, NAME@RANGE or a CID', SubmitErrorCode.BAD_SUBMISSION)
  const timeoutS = req.timeoutS ?? opts.defaultTimeoutS
  const attempts = req.attempts ?? opts.defaultAttempts
  if (!Number.isInteger(timeoutS) || timeoutS < 1 || timeoutS > 86_400) throw new SubmitError(`timeout must be 1 to 86400 seconds, not ${String(timeoutS)}`, SubmitErrorCode.BAD_SUBMISSION)
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 20) throw new SubmitError(`attempts must be 1 to 20, not ${String(attempts)}`, SubmitErrorCode.BAD_SUBMISSION)
  if (req.onFailure !== undefined && !ON_FAILURE.includes(req.onFailure)) throw new SubmitError(`onFailure must be ${ON_FAILURE.join(' or ')}, not ${String(req.onFailure)}`, SubmitErrorCode.BAD_SUBMISSION)
  const onFailure: OnFailure = req.onFailure ?? (ctx.hasReviewers?.() === true ? 'review' : 'fail')
  if (req.scope !== undefined && !TASK_SCOPES.includes(req.scope)) throw new SubmitError(`scope must be ${TASK_SCOPES.join(' or ')}, not ${String(req.scope)}`, SubmitErrorCode.BAD_SUBMISSION)
  const resolved = ctx.index.resolve(req.skill)
  if (resolved == null) throw new SubmitError(`no trusted skill release matches "${req.skill}": publish it, or check the name with "aas skill search"`, SubmitErrorCode.UNKNOWN_SKILL)
  // the SelfImprover may give the previous good release while this one is quarantined here
  const instead = ctx.improver?.release?.(req.skill, resolved)
  const entry = instead?.entry ?? resolved
  if (req.input === undefined) throw new SubmitError('a task needs an input (JSON)', SubmitErrorCode.BAD_SUBMISSION)
  const inputBytes = Buffer.byteLength(JSON.stringify(req.input))
  if (inputBytes > TASK_INPUT_MAX_BYTES) throw new SubmitError(`input is ${inputBytes} bytes, over the ${TASK_INPUT_MAX_BYTES} byte limit`, SubmitErrorCode.INPUT_TOO_LARGE)
  const problem = schemaProblem(entry.manifest.inputSchema as object | undefined, req.input)
  if (problem != null) throw new SubmitError(`input does not match ${entry.release.name}'s input schema: ${problem}`, SubmitErrorCode.INVALID_INPUT)
  const { release } = entry
  const now = ctx.now()
  const spec: TaskSpec = {
    skill: { name: release.name, version: release.version, cid: release.cid, author: release.author },
    input: req.input,
    timeoutS,
    attempts,
    submitter,
    submittedAt: now,
    resources: effectiveLimits(opts.sandbox, entry.manifest.resources as Record<string, number> | undefined),
    tier: typeof entry.manifest.tier === 'number' ? entry.manifest.tier : 0,
    onFailure,
    scope: req.scope ?? 'team'
  }
  const idSeed = specSeed(spec)
  const task: TaskRecord = {
    id: taskIdFor(ctx.selfKey ?? peerIdFromString(ctx.self).publicKey!.raw, idSeed),
    idSeed,
    spec,
    state: 'offered',
    attempt: 1,
    executor: null,
    leaseUntil: null,
    exclude: [],
    deadline: now + timeoutS * 1000,
    offeredAt: now,
    lastOfferAt: now,
    reoffers: 0,
    output: null,
    error: null,
    attemptsLog: [],
    history: [],
    completedAt: null,
    timings: null,
    tier: spec.tier ?? 0,
    tierStart: 0,
    review: null
  }
  return instead != null ? Object.assign(task, { learned: instead.learned }) : task
}

/**
 * Stores a checked task as offered (the announcer gossips the offer) — or, when the SelfImprover
 * knows a reviewer's reusable answer to this very input, as succeeded from memory, saying so.
 */
export async function accept (ctx: OriginContext, req: SubmitRequest, submitter: string): Promise<TaskRecord> {
  const t = newTask(ctx, req, submitter)
  const learned = await ctx.improver?.reuse(t)
  if (learned != null) {
    const now = ctx.now()
    return await ctx.machine.create(t, {
      actor: submitter,
      to: 'succeeded',
      edit: (x) => { x.output = learned.output; x.completedAt = now; x.source = 'learned' },
      history: [{ state: 'succeeded', attempt: 1, detail: `answered from memory: review ${String(learned.evidence.review)}`, learned: { rule: learned.rule, evidence: learned.evidence } }]
    })
  }
  const { learned: quarantine, ...task } = t as TaskRecord & { learned?: { rule: string, evidence: Record<string, unknown> } }
  return await ctx.machine.create(task, {
    actor: submitter,
    history: [{ state: 'offered', attempt: 1, ...(quarantine != null ? { detail: `${String(quarantine.evidence.asked)}: ${t.spec.skill.version} instead of quarantined ${String((quarantine.evidence.quarantined as { version: string }).version)}`, learned: quarantine } : {}) }]
  })
}

/**
 * The seed of the task id: a digest of the canonical spec plus a random salt (two equal
 * submissions are two tasks); the id is made of it and this origin's key (`taskIdFor`).
 */
function specSeed (spec: TaskSpec): string {
  const bytes = encodeCanonical({ ...spec, input: JSON.stringify(spec.input), salt: randomBytes(8) })
  return createHash('sha256').update(bytes).digest('hex')
}

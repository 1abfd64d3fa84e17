import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { Topics } from '../topics.js'
import type { MessageSpec } from '../registry.js'
import type { Envelope } from '../envelope.js'
import { GossipAction, GossipActionError, RejectCode } from '../errors.js'

/**
 * Task messages (DESIGN.md "Task lifecycle"). Only three go on gossip, whatever the mesh
 * size: the origin's offer, its assignment and the completion. Bids, inputs, lease renewals
 * and results travel on streams between the origin and one executor, in signed envelopes of
 * the stream types below (checked with the same schemas and signatures, never gossiped).
 */
const TASK_ID = { type: 'string', pattern: '^b[a-z2-7]{20,120}$' } as const
const PEER_ID = { type: 'string', minLength: 40, maxLength: 64, pattern: '^[1-9A-HJ-NP-Za-km-z]+$' } as const
const ATTEMPT = { type: 'integer', minimum: 1, maximum: 100 } as const
const TIME = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const
const ID_SEED = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const

/**
 * A task id is bound to its origin's key: it is the CID (dag-cbor, sha2-256) of a digest of
 * the origin's public key and a 32-byte seed (itself a digest of the task's spec and a salt).
 * Every offer, assignment and completion carries the seed, so anyone can check that the key
 * that signed it is the key the id was made for: no other key can speak for the task.
 */
const DAG_CBOR = 0x71
export function taskIdFor (origin: Uint8Array, idSeed: string): string {
  const digest = createHash('sha256').update('aas/task-id\n').update(origin).update(Buffer.from(idSeed, 'hex')).digest()
  return CID.createV1(DAG_CBOR, Digest.create(sha256.code, digest)).toString()
}

/** The origin check of the task gossip types: REJECT `not-origin` when another key signed. */
export function checkTaskOrigin (body: { taskId: string, idSeed: string }, envelope: Pick<Envelope, 'from'>): void {
  if (taskIdFor(envelope.from, body.idSeed) !== body.taskId) throw new GossipActionError(GossipAction.REJECT, RejectCode.NOT_ORIGIN, `task ${body.taskId} is not the signer's: only its origin speaks for it`)
}

/**
 * Where a task may run: `team` (default) only on its origin's team, whose gossip carries no
 * skill, resources or state of it (executors learn them when they win the bid, over the
 * stream); `federation` also on partner teams granted `execute`.
 */
export const TASK_SCOPES = ['team', 'federation'] as const
export type TaskScope = typeof TASK_SCOPES[number]

export interface TaskSkillRef {
  name: string
  version: string
  cid: string
  author: string
}

const SKILL_REF = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'version', 'cid', 'author'],
  properties: {
    name: { type: 'string', minLength: 2, maxLength: 64 },
    version: { type: 'string', minLength: 5, maxLength: 64 },
    cid: { type: 'string', minLength: 10, maxLength: 128 },
    author: { type: 'string', minLength: 40, maxLength: 64 }
  }
} as const

const RESOURCES = {
  type: 'object',
  additionalProperties: false,
  required: ['memoryMB', 'cpus', 'pids', 'timeoutS'],
  properties: {
    memoryMB: { type: 'integer', minimum: 1, maximum: 1_048_576 },
    cpus: { type: 'number', minimum: 0, maximum: 1024 },
    pids: { type: 'integer', minimum: 1, maximum: 1_048_576 },
    timeoutS: { type: 'integer', minimum: 1, maximum: 86_400 }
  }
} as const

/** Executor tiers: a node's `tasks.tier`, a skill's manifest `tier`. */
export const MAX_TIER = 9
const TIER = { type: 'integer', minimum: 0, maximum: MAX_TIER } as const

/**
 * Gossip: "this task wants an executor" (the envelope's sender is the origin). A `team` offer
 * goes on the team's topic and names no skill, input size or resources: those reach the
 * executor that wins, with the input. A `federation` offer names them, for partners to judge.
 */
export interface TaskOfferBody {
  taskId: string
  idSeed: string
  scope: TaskScope
  attempt: number
  skill?: TaskSkillRef
  inputBytes?: number
  resources?: { memoryMB: number, cpus: number, pids: number, timeoutS: number }
  /** ms: no result accepted after this. */
  deadline: number
  /** Executors that failed earlier attempts: they do not bid while others can. */
  exclude: string[]
  /** The lowest executor tier (node setting `tasks.tier`) that may bid: a failed task climbs. */
  tier: number
}

export const taskOffer: MessageSpec<TaskOfferBody> = {
  type: 'task-offer',
  topic: Topics.tasks,
  maxBytes: 8 * 1024,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['taskId', 'idSeed', 'scope', 'attempt', 'deadline', 'exclude', 'tier'],
    properties: {
      taskId: TASK_ID,
      idSeed: ID_SEED,
      scope: { type: 'string', enum: [...TASK_SCOPES] },
      attempt: ATTEMPT,
      skill: SKILL_REF,
      inputBytes: { type: 'integer', minimum: 0, maximum: 64 * 1024 * 1024 },
      resources: RESOURCES,
      deadline: TIME,
      exclude: { type: 'array', maxItems: 100, items: PEER_ID },
      tier: TIER
    }
  },
  check: (body, envelope) => {
    // a federation offer names what partners judge by; a team offer names none of it (outsiders may listen)
    const named = [body.skill, body.inputBytes, body.resources].filter(x => x !== undefined).length
    if (body.scope === 'federation' ? named !== 3 : named !== 0) throw new GossipActionError(GossipAction.REJECT, RejectCode.SCHEMA, `a ${body.scope} offer ${body.scope === 'federation' ? 'names' : 'names none of'} its skill, input size and resources`)
    checkTaskOrigin(body, envelope)
  },
  role: 'node',
  teamScoped: true
}

/** Gossip: "this attempt is held by this executor until leaseUntil" (everyone drops the offer). */
export interface TaskAssignBody {
  taskId: string
  idSeed: string
  attempt: number
  executor: string
  leaseUntil: number
}

export const taskAssign: MessageSpec<TaskAssignBody> = {
  type: 'task-assign',
  topic: Topics.tasks,
  maxBytes: 2 * 1024,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['taskId', 'idSeed', 'attempt', 'executor', 'leaseUntil'],
    properties: { taskId: TASK_ID, idSeed: ID_SEED, attempt: ATTEMPT, executor: PEER_ID, leaseUntil: TIME }
  },
  check: checkTaskOrigin,
  role: 'node',
  teamScoped: true
}

/** The states a task ends in, defined once (the origin's records, the API, the done gossip). */
export const TASK_TERMINAL_STATES = ['succeeded', 'resolved', 'failed', 'cancelled'] as const
export type TaskTerminalState = typeof TASK_TERMINAL_STATES[number]

/**
 * Gossip: "this task is finished" (executors drop any offer or run of it). A `team` task's
 * completion says no more than that (its state is for the submitter and the team to ask).
 */
export interface TaskDoneBody {
  taskId: string
  idSeed: string
  state?: TaskTerminalState
  executor?: string | null
}

export const taskDone: MessageSpec<TaskDoneBody> = {
  type: 'task-done',
  topic: Topics.tasks,
  maxBytes: 2 * 1024,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['taskId', 'idSeed'],
    properties: {
      taskId: TASK_ID,
      idSeed: ID_SEED,
      state: { type: 'string', enum: [...TASK_TERMINAL_STATES] },
      executor: { anyOf: [PEER_ID, { type: 'null' }] }
    }
  },
  check: checkTaskOrigin,
  role: 'node',
  teamScoped: true
}

export const TASK_INPUT_MAX_BYTES = 1024 * 1024

/** Stream: a task as a CLI peer submits it. */
export interface TaskSubmitBody {
  /** NAME, NAME@RANGE or a CID. */
  skill: string
  input: unknown
  timeoutS: number
  attempts: number
  /** When every tier failed: wait for a person, or fail (default: review when the node has reviewers). */
  onFailure?: 'review' | 'fail'
  /** Where it may run (default `team`). */
  scope?: TaskScope
}

export const taskSubmit: MessageSpec<TaskSubmitBody> = {
  type: 'task-submit',
  topic: '',
  maxBytes: TASK_INPUT_MAX_BYTES + 4096,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['skill', 'input', 'timeoutS', 'attempts'],
    properties: {
      skill: { type: 'string', minLength: 2, maxLength: 200 },
      input: {},
      timeoutS: { type: 'integer', minimum: 1, maximum: 86_400 },
      attempts: { type: 'integer', minimum: 1, maximum: 20 },
      onFailure: { type: 'string', enum: ['review', 'fail'] },
      scope: { type: 'string', enum: [...TASK_SCOPES] }
    }
  },
  role: 'publisher'
}

/** Stream: an executor's bid for one attempt. */
export interface TaskClaimBody {
  taskId: string
  attempt: number
  freeSlots: number
  cached: boolean
  load: number
}

export const taskClaim: MessageSpec<TaskClaimBody> = {
  type: 'task-claim',
  topic: '',
  maxBytes: 2 * 1024,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['taskId', 'attempt', 'freeSlots', 'cached', 'load'],
    properties: {
      taskId: TASK_ID,
      attempt: ATTEMPT,
      freeSlots: { type: 'integer', minimum: 0, maximum: 10_000 },
      cached: { type: 'boolean' },
      load: { type: 'number', minimum: 0, maximum: 10_000 }
    }
  },
  role: 'executor'
}

/** Stream: a lease renewal request. */
export interface TaskLeaseBody { taskId: string, attempt: number }

export const taskLease: MessageSpec<TaskLeaseBody> = {
  type: 'task-lease',
  topic: '',
  maxBytes: 1024,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['taskId', 'attempt'],
    properties: { taskId: TASK_ID, attempt: ATTEMPT }
  },
  role: 'executor'
}

/** How one sandbox run ended, defined once (runner results, task results, metrics labels). */
export const RUN_OUTCOMES = ['succeeded', 'failed', 'timeout', 'oom', 'killed', 'invalid-input', 'invalid-output', 'error', 'needs-human'] as const
export type RunOutcome = typeof RUN_OUTCOMES[number]

/** Stream: an executor's result for one attempt. */
export interface TaskResultBody {
  taskId: string
  attempt: number
  status: RunOutcome
  output: unknown
  error: string | null
  /** Where the time went on the executor, ms. */
  timings: { fetchMs: number, sandboxMs: number }
  /** The end of what the skill wrote on stderr (for a reviewer), at most 4 KiB. */
  stderrTail?: string
}

/** Largest stderr tail a result carries. */
export const RESULT_STDERR_TAIL_CHARS = 4096

export const TASK_RESULT_MAX_BYTES = 2 * 1024 * 1024

export const taskResult: MessageSpec<TaskResultBody> = {
  type: 'task-result',
  topic: '',
  maxBytes: TASK_RESULT_MAX_BYTES,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['taskId', 'attempt', 'status', 'output', 'error', 'timings'],
    properties: {
      taskId: TASK_ID,
      attempt: ATTEMPT,
      status: { type: 'string', enum: [...RUN_OUTCOMES] },
      output: {},
      error: { anyOf: [{ type: 'string', maxLength: 4096 }, { type: 'null' }] },
      stderrTail: { type: 'string', maxLength: RESULT_STDERR_TAIL_CHARS },
      timings: {
        type: 'object',
        additionalProperties: false,
        required: ['fetchMs', 'sandboxMs'],
        properties: { fetchMs: { type: 'number', minimum: 0 }, sandboxMs: { type: 'number', minimum: 0 } }
      }
    }
  },
  role: 'executor'
}

/** Stream: "what state is this task in?" — answered to its submitter and the origin's team only. */
export interface TaskStatusBody { taskId: string }

export const taskStatus: MessageSpec<TaskStatusBody> = {
  type: 'task-status',
  topic: '',
  maxBytes: 2 * 1024,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['taskId'],
    properties: { taskId: { type: 'string', minLength: 1, maxLength: 200 } }
  },
  role: 'member'
}

import { Topics } from '../topics.js'
import type { MessageSpec } from '../registry.js'

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

/** Gossip: "this task wants an executor" (the envelope's sender is the origin). */
export interface TaskOfferBody {
  taskId: string
  attempt: number
  skill: TaskSkillRef
  inputBytes: number
  resources: { memoryMB: number, cpus: number, pids: number, timeoutS: number }
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
    required: ['taskId', 'attempt', 'skill', 'inputBytes', 'resources', 'deadline', 'exclude', 'tier'],
    properties: {
      taskId: TASK_ID,
      attempt: ATTEMPT,
      skill: SKILL_REF,
      inputBytes: { type: 'integer', minimum: 0, maximum: 64 * 1024 * 1024 },
      resources: RESOURCES,
      deadline: TIME,
      exclude: { type: 'array', maxItems: 100, items: PEER_ID },
      tier: TIER
    }
  }
}

/** Gossip: "this attempt is held by this executor until leaseUntil" (everyone drops the offer). */
export interface TaskAssignBody {
  taskId: string
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
    required: ['taskId', 'attempt', 'executor', 'leaseUntil'],
    properties: { taskId: TASK_ID, attempt: ATTEMPT, executor: PEER_ID, leaseUntil: TIME }
  }
}

/** The states a task ends in, defined once (the origin's records, the API, the done gossip). */
export const TASK_TERMINAL_STATES = ['succeeded', 'resolved', 'failed', 'cancelled'] as const
export type TaskTerminalState = typeof TASK_TERMINAL_STATES[number]

/** Gossip: "this task is finished" (executors drop any offer or run of it). */
export interface TaskDoneBody {
  taskId: string
  state: TaskTerminalState
  executor: string | null
}

export const taskDone: MessageSpec<TaskDoneBody> = {
  type: 'task-done',
  topic: Topics.tasks,
  maxBytes: 2 * 1024,
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['taskId', 'state', 'executor'],
    properties: {
      taskId: TASK_ID,
      state: { type: 'string', enum: [...TASK_TERMINAL_STATES] },
      executor: { anyOf: [PEER_ID, { type: 'null' }] }
    }
  }
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
      onFailure: { type: 'string', enum: ['review', 'fail'] }
    }
  }
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
  }
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
  }
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
  }
}

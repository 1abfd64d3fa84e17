import { TASK_TERMINAL_STATES, type RunOutcome, type TaskSkillRef, type TaskTerminalState } from '../../protocol/index.js'

/**
 * A task as its origin keeps it (LevelDB, bucket `task`). The origin is the one authority on
 * its tasks: every state change is written before it is announced.
 */
export type OpenTaskState = 'offered' | 'assigned'
export type TaskState = OpenTaskState | TaskTerminalState
export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set(TASK_TERMINAL_STATES)
export const TASK_STATES: TaskState[] = ['offered', 'assigned', ...TASK_TERMINAL_STATES]
export type { TaskTerminalState }
export const isTerminal = (s: TaskState): s is TaskTerminalState => TERMINAL_STATES.has(s)

export interface TaskSpec {
  skill: TaskSkillRef
  input: unknown
  /** ms budget from submission to a result. */
  timeoutS: number
  attempts: number
  /** Peer id of the submitter (a CLI peer, or the node itself for API submissions). */
  submitter: string
  submittedAt: number
  resources: { memoryMB: number, cpus: number, pids: number, timeoutS: number }
}

export interface HistoryEntry {
  at: number
  state: TaskState | 'bid' | 'lease-expired' | 'result' | 'late-result' | 're-offered'
  attempt: number
  executor?: string
  detail?: string
}

export interface AttemptRecord {
  attempt: number
  executor: string
  assignedAt: number
  endedAt?: number
  status?: RunOutcome | 'lease-expired'
  error?: string
  timings?: { fetchMs: number, sandboxMs: number }
  /** What the executor reported after its lease expired (an attempt reports once). */
  late?: RunOutcome
}

export interface TaskRecord {
  id: string
  spec: TaskSpec
  state: TaskState
  attempt: number
  executor: string | null
  leaseUntil: number | null
  /** Executors of failed attempts: not offered the task again while others can take it. */
  exclude: string[]
  deadline: number
  /** When the current attempt was first offered. */
  offeredAt: number
  /** When its offer was last gossiped, and how many times again since the first. */
  lastOfferAt: number
  reoffers: number
  output: unknown
  error: string | null
  attemptsLog: AttemptRecord[]
  history: HistoryEntry[]
  completedAt: number | null
  /** Where the time went, for the last accepted result (ms). */
  timings: { offerToAssignMs: number, fetchMs: number, sandboxMs: number, resultMs: number } | null
}

/** What the API and `aas task status --json` show. */
export function taskView (t: TaskRecord): Record<string, unknown> {
  return {
    id: t.id,
    state: t.state,
    skill: t.spec.skill,
    executor: t.executor,
    attempts: t.attemptsLog.length,
    maxAttempts: t.spec.attempts,
    output: t.output,
    error: t.error,
    submittedAt: t.spec.submittedAt,
    completedAt: t.completedAt,
    durationMs: t.completedAt != null ? t.completedAt - t.spec.submittedAt : null,
    timings: t.timings,
    attemptsLog: t.attemptsLog,
    history: t.history
  }
}

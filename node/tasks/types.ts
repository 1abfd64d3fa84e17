import { TASK_TERMINAL_STATES, type RunOutcome, type TaskScope, type TaskSkillRef, type TaskTerminalState } from '../../protocol/index.js'

/**
 * A task as its origin keeps it (LevelDB, bucket `task`). The origin is the one authority on
 * its tasks: every state change is written before it is announced.
 */
export type OpenTaskState = 'offered' | 'assigned' | 'needs-review'
export type TaskState = OpenTaskState | TaskTerminalState
export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set(TASK_TERMINAL_STATES)
export const TASK_STATES: TaskState[] = ['offered', 'assigned', 'needs-review', ...TASK_TERMINAL_STATES]
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
  /** The tier the task starts at: the skill's manifest `tier` (0 when it names none). */
  tier?: number
  /** When every tier failed: wait for a person (`review`) or end `failed`. */
  onFailure?: OnFailure
  /** Where it may run: `team` (default) or `federation` (partners granted `execute` too). */
  scope?: TaskScope
}

export type OnFailure = 'review' | 'fail'
export const ON_FAILURE: OnFailure[] = ['review', 'fail']

/** Why a task went to the review queue: a fixed set (metric label). */
export type EscalationCause = 'attempts-spent' | 'needs-human' | 'no-bidder' | 'deadline'

/** A task in (or through) the human review queue. */
export interface ReviewState {
  cause: EscalationCause
  reason: string
  /** When it entered the queue. */
  since: number
  /** The person holding it (claimed), and until when. */
  holder: string | null
  holdUntil: number | null
  resolvedBy?: string
  annotation?: string
  /** The reviewer allows the answer to be reused for identical inputs. */
  reuse?: boolean
  /** The reviewer's fix of the input, applied when the same failure comes back (SelfImprover rule 4). */
  fix?: TaskFix
  decidedAt?: number
}

/** A reviewer's structured fix: fields merged over the task's input. */
export interface TaskFix { input: Record<string, unknown> }

/** A fix the origin applied to a task: whose, the input it ran with, and from which attempt on. */
export interface AppliedFix { signature: string, review: string, input: Record<string, unknown>, attempt: number }

export interface HistoryEntry {
  at: number
  state: TaskState | 'bid' | 'lease-expired' | 'result' | 'late-result' | 're-offered' | 'review-claimed' | 'review-released'
  attempt: number
  executor?: string
  detail?: string
  /** A decision of the SelfImprover, and what it rests on. */
  learned?: { rule: string, evidence: Record<string, unknown> }
}

export interface AttemptRecord {
  attempt: number
  executor: string
  assignedAt: number
  endedAt?: number
  status?: RunOutcome | 'lease-expired'
  error?: string
  timings?: { fetchMs: number, sandboxMs: number }
  /** The end of the run's stderr, as the executor reported it. */
  stderrTail?: string
  /** What the executor reported after its lease expired (an attempt reports once). */
  late?: RunOutcome
}

export interface TaskRecord {
  id: string
  /** The seed that binds the id to this origin's key (protocol `taskIdFor`): every task gossip carries it. */
  idSeed: string
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
  /** The tier being tried now, and how many attempts were spent below it. */
  tier?: number
  tierStart?: number
  review?: ReviewState | null
  /** A reviewer's fix retried on this task (the input its attempts from `attempt` on ran with). */
  fix?: AppliedFix | null
  /** `learned`: answered from memory (a reviewer's earlier answer), not run. */
  source?: 'learned' | null
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
    history: t.history,
    tier: tierOf(t),
    onFailure: t.spec.onFailure ?? 'fail',
    review: t.review ?? null,
    source: t.source ?? null,
    fix: t.fix ?? null,
    resolvedBy: t.review?.resolvedBy?.replace(/^user:/, '') ?? null,
    annotation: t.review?.annotation ?? null
  }
}

/** The tier a task is at (records written before tiers existed are at their spec's, or 0). */
export function tierOf (t: TaskRecord): number {
  return t.tier ?? t.spec.tier ?? 0
}

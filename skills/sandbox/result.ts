import type { RunOutcome } from '../../protocol/index.js'
import type { Runtime } from '../manifest/index.js'
import type { SandboxLimits } from './options.js'
import type { RunUsage } from './cgroup.js'

export type { RunUsage }

/** Why the runner (or, for `oom`, the kernel) killed a run. */
export type KillReason = 'timeout' | 'oom' | 'output-cap' | 'cancelled'

/** How a run ended. Exit code 0 at the CLI only for `succeeded`. */
export type RunStatus = RunOutcome

export interface OutputFile { path: string, size: number }

export interface RunResult {
  status: RunStatus
  /** The container's exit code (null when it did not run or was killed before exiting). */
  exitCode: number | null
  /** The result JSON the skill printed (when it parsed). */
  output: unknown
  stdoutBytes: number
  stderrTail: string
  durationMs: number
  limits: SandboxLimits
  image: string
  runtime: Runtime
  /** Files the skill left in /output. */
  files: OutputFile[]
  /** Why, for every status but `succeeded`. */
  error?: string
  /** Set when the run was killed. */
  kill?: KillReason
  /** CPU time and peak memory from the run's cgroup; null where they cannot be read (rootless Podman, no cgroup). */
  usage: RunUsage | null
}

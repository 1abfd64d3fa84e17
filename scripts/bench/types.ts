/**
 * The shape of a benchmark. A benchmark measures its subject and a baseline in the same run
 * (same machine, same load, same moment), so the ratio between them means something even
 * where the absolute figures depend on the machine.
 */

export interface BenchContext {
  /** Rounds run and discarded before measuring (JIT, connection and mesh warm-up). */
  warmup: number
  /** Rounds measured. */
  rounds: number
  /** Progress for a person. Goes to stderr: with --json, stdout carries only results. */
  log: (line: string) => void
  /** Aborted on Ctrl-C: a benchmark stops between rounds and cleans up what it started. */
  signal: AbortSignal
}

export interface BenchResult {
  /** Result name, e.g. `gossip-propagation-n5` (one benchmark may return several). */
  name: string
  unit: string
  /** One figure per measured round of the subject. */
  samples: number[]
  /** One figure per measured round of the baseline. */
  baseline: number[]
  /** Further figures for a person (e.g. `p99`, `nodes`): on the readable line, and on stderr with --json. */
  extra?: Record<string, number | string>
}

export interface Benchmark {
  /** What `npm run bench -- NAME` selects. */
  name: string
  description: string
  run: (ctx: BenchContext) => Promise<BenchResult[]>
}

/** One printed result: medians of subject and baseline, and their ratio; with --json, exactly these fields. */
export interface BenchReport {
  name: string
  unit: string
  /** Median of the subject's samples. */
  value: number
  /** Median of the baseline's samples. */
  baseline: number
  /** value / baseline. */
  ratio: number
  rounds: number
}

import { performance } from 'node:perf_hooks'
import type { BenchContext } from './types.js'

/**
 * Round runners shared by benchmarks: warm-up rounds first (discarded), then measured ones.
 * A round either returns its own figure (when only it knows when the work ended, e.g. the
 * last of N deliveries) or is timed here, in milliseconds.
 */
export type Round = () => Promise<number | void>

export interface MeasureOptions {
  /**
   * Idle time after each round, not timed, so that the aftermath of one round is not timed
   * in the next: a gossip round ends when the last node has the message, but duplicates are
   * still being forwarded between mesh peers for tens of milliseconds after.
   */
  gapMs?: number
}

const pause = async (ms: number | undefined): Promise<void> => {
  if (ms != null && ms > 0) await new Promise(resolve => setTimeout(resolve, ms))
}

async function once (round: Round): Promise<number> {
  const t0 = performance.now()
  const own = await round()
  return typeof own === 'number' ? own : performance.now() - t0
}

function checkAborted (ctx: BenchContext): void {
  if (ctx.signal.aborted) throw new Error('benchmark interrupted')
}

/** `ctx.warmup` then `ctx.rounds` rounds of one thing; the measured figures. */
export async function measure (ctx: BenchContext, round: Round, opts: MeasureOptions = {}): Promise<number[]> {
  const samples: number[] = []
  for (let i = 0; i < ctx.warmup + ctx.rounds; i++) {
    checkAborted(ctx)
    const s = await once(round)
    await pause(opts.gapMs)
    if (i >= ctx.warmup) samples.push(s)
  }
  return samples
}

/**
 * Subject and baseline rounds alternated, so a slow spell of the machine (another process,
 * a GC) lands on both rather than skewing their ratio.
 */
export async function measurePair (ctx: BenchContext, subject: Round, baseline: Round, opts: MeasureOptions = {}): Promise<{ samples: number[], baseline: number[] }> {
  const out = { samples: [] as number[], baseline: [] as number[] }
  for (let i = 0; i < ctx.warmup + ctx.rounds; i++) {
    checkAborted(ctx)
    const s = await once(subject)
    await pause(opts.gapMs)
    const b = await once(baseline)
    await pause(opts.gapMs)
    if (i >= ctx.warmup) { out.samples.push(s); out.baseline.push(b) }
  }
  return out
}

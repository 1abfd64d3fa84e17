/**
 * Order statistics for benchmark samples. Medians and nearest-rank percentiles rather than
 * means: a round that hits a GC pause or a gossipsub heartbeat is a real outlier, and one of
 * them should move the tail (p99), not the typical figure.
 */

function sorted (samples: readonly number[]): number[] {
  if (samples.length === 0) throw new RangeError('no samples')
  if (samples.some(x => !Number.isFinite(x))) throw new RangeError('samples must be finite numbers')
  return [...samples].sort((a, b) => a - b)
}

/** The middle sample; with an even count, the mean of the two middle ones. */
export function median (samples: readonly number[]): number {
  const s = sorted(samples)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2
}

/**
 * The nearest-rank percentile: the smallest sample such that at least `p` percent of the
 * samples are less than or equal to it (rank ⌈p/100 · n⌉). Always one of the samples, never
 * an interpolation, so a p99 over 30 rounds is honestly the worst round.
 */
export function percentile (samples: readonly number[], p: number): number {
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile ${p} is not within 0..100`)
  const s = sorted(samples)
  const rank = Math.max(1, Math.ceil((p / 100) * s.length))
  return s[rank - 1]
}

export interface Summary {
  n: number
  min: number
  max: number
  mean: number
  median: number
  p90: number
  p99: number
}

export function summary (samples: readonly number[]): Summary {
  const s = sorted(samples)
  return {
    n: s.length,
    min: s[0],
    max: s[s.length - 1],
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    median: median(s),
    p90: percentile(s, 90),
    p99: percentile(s, 99)
  }
}

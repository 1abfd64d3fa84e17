import type { Benchmark } from './types.js'

/**
 * scripts/bench: the benchmarks `npm run bench` knows. Adding one is one line here: a module
 * in this folder whose default export is a `Benchmark` (see types.ts and gossip.ts).
 */
export const benchmarks: Benchmark[] = [
  (await import('./gossip.js')).default,
  (await import('./sandbox.js')).default,
  (await import('./sandbox-start.js')).default,
  (await import('./fetch.js')).default,
  (await import('./tasks.js')).default,
  (await import('./audit.js')).default,
  (await import('./improver.js')).default,
  (await import('./scale.js')).gossipProcesses,
  (await import('./scale.js')).meshScale
]

/**
 * How a local mesh is wired, shared by `npm run mesh` and the in-process benchmark cluster so
 * both build the same shape: node 0 starts first; node i bootstraps to node 0 and to the
 * earlier node ⌊i/2⌋. Every node but the seed then has two ways in, and nodes start in waves
 * (1, 1, 2, 4, 8…) instead of one after another.
 */

/** The earlier node that node i bootstraps to besides node 0 (none for i < 2). */
export function parentOf (i: number): number | undefined {
  return i >= 2 ? i >> 1 : undefined
}

/** Indexes of the nodes node i bootstraps to, in order. */
export function bootstrapOf (i: number): number[] {
  if (i === 0) return []
  const parent = parentOf(i)
  return parent == null ? [0] : [0, parent]
}

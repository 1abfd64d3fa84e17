/**
 * The review queue's options and their defaults, apart from the queue itself so that the
 * node's config defaults (and every CLI command that reads settings) need not load it.
 */
export interface ReviewQueueOptions {
  /** How long a claim holds a task for its reviewer. */
  holdMs: number
  /** Largest annotation or rejection reason. */
  maxNoteChars: number
}

export const defaultReviewQueueOptions: ReviewQueueOptions = { holdMs: 15 * 60_000, maxNoteChars: 4000 }

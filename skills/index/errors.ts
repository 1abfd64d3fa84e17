import { AasError } from '../../protocol/errors.js'

/**
 * The index refuses a release with the gossip validators' `GossipActionError` (IGNORE
 * `untrusted-author` / `rollback`, REJECT `conflict`): admission is the node-dependent last
 * step of the same pipeline, and its code is the metric label. The errors below are the
 * index's own.
 */
export enum IndexErrorCode {
  /** A stored entry does not decode: the database was damaged or written by something else. */
  CORRUPT = 'ERR_INDEX_CORRUPT'
}

export class IndexCorruptError extends AasError {
  declare readonly code: IndexErrorCode
  constructor (readonly key: string, options?: { cause?: unknown }) {
    super(`skill index entry ${key} does not decode: the database is damaged; move the data dir's db away to rebuild the index from peers`, IndexErrorCode.CORRUPT, options)
    this.name = 'IndexCorruptError'
  }
}

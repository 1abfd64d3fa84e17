/**
 * node/audit: the node's append-only, hash-chained, signed audit trail — the log that state
 * changes write their entries into (one batch), checkpoints, the flood-safe record of refused
 * messages, and verification of a data dir or an exported file.
 */
export * from './actions.js'
export * from './errors.js'
export * from './log.js'
export * from './rejects.js'
export * from './verify.js'

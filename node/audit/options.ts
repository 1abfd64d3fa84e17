/**
 * The audit log's options and their defaults, apart from the log itself so that the node's
 * config defaults (and every CLI command that reads settings) need not load LevelDB.
 */
export interface AuditLogOptions {
  /** Sign a checkpoint after this many new entries… */
  checkpointEvery: number
  /** …or this long after the last one, if there are new entries. */
  checkpointIntervalMs: number
}

export const defaultAuditLogOptions: AuditLogOptions = { checkpointEvery: 1000, checkpointIntervalMs: 60_000 }

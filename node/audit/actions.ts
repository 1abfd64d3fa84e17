/**
 * What an audit entry can record. A fixed set: these are also the `action` label of
 * `aas_audit_entries_total`. Later parts (certificates, reviews, logins, approvals) add theirs here.
 */
export const AUDIT_ACTIONS = [
  'node.started', 'node.stopped', 'config.loaded',
  'task.accepted', 'task.offered', 'task.assigned', 'task.lease-lost',
  'task.result-accepted', 'task.result-refused', 'task.finished', 'task.cancelled', 'task.escalated',
  'review.viewed', 'review.claimed', 'review.released', 'review.resolved', 'review.rejected', 'review.refused',
  'learned.withdrawn', 'learned.quarantined', 'learned.quarantine-lifted', 'learned.fix-kept', 'learned.fix-retired',
  'bundle.fetched', 'bundle.verified', 'bundle.refused',
  'release.indexed', 'release.refused',
  'message.rejected',
  'team.joined', 'team.revoked',
  'user.added', 'user.disabled', 'user.totp-reset', 'user.unlocked',
  'auth.login', 'auth.logout', 'auth.refused'
] as const

export type AuditAction = typeof AUDIT_ACTIONS[number]

/** One action to record; the log adds seq, time, chain link and signature. */
export interface AuditRecord {
  action: AuditAction
  subject: string
  /** Defaults to the node itself. */
  actor?: string
  details?: Record<string, unknown>
}

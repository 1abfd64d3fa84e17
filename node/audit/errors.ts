import { AasError } from '../../protocol/index.js'

export enum AuditErrorCode {
  /** A batch with audit entries failed to write: the log takes no more until the node restarts. */
  WRITE_FAILED = 'ERR_AUDIT_WRITE_FAILED',
  /** The log on disk or in a file is not a valid chain (`aas audit verify` says where). */
  INVALID = 'ERR_AUDIT_INVALID',
  /** An audit file, checkpoint file or data dir cannot be read. */
  UNREADABLE = 'ERR_AUDIT_UNREADABLE'
}

export class AuditError extends AasError {
  constructor (message: string, code: AuditErrorCode, options?: { cause?: unknown }) {
    super(message, code, options)
    this.name = 'AuditError'
  }
}

import { AasError } from '../../protocol/errors.js'

/** Why a local publish was refused; the API maps each code to an HTTP status. */
export enum PublishErrorCode {
  /** The bundle, manifest or release is malformed or does not match. */
  INVALID = 'ERR_PUBLISH_INVALID',
  /** This node does not trust the release's author. */
  UNTRUSTED = 'ERR_PUBLISH_UNTRUSTED',
  /** Same name, version and author as an indexed release, other content. */
  CONFLICT = 'ERR_PUBLISH_CONFLICT',
  /** Older than a version already indexed for the name and author. */
  ROLLBACK = 'ERR_PUBLISH_ROLLBACK'
}

export class PublishError extends AasError {
  declare readonly code: PublishErrorCode
  constructor (message: string, code: PublishErrorCode) {
    super(message, code)
    this.name = 'PublishError'
  }
}
